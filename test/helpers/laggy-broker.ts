// A Broker that answers state and recovery after a random delay, as a networked engine would,
// so that publications arrive while a subscribe is between its query and its ack.

import type { Broker } from "../../src/broker/broker.ts";
import { MemoryBroker } from "../../src/broker/memory-broker.ts";

export function laggyBroker(historySize: number, maxDelayMs = 4): Broker {
  const inner = new MemoryBroker({ historySize, historyTtlS: 3600, historyMaxBytes: 64 * 1024 * 1024, historyMaxChannels: 10_000 });
  const lag = () => Bun.sleep(Math.random() * maxDelayMs);
  return {
    publish: (channel, payload, origin) => inner.publish(channel, payload, origin),
    // Latency on both legs: publications land before the read and between the read and the answer.
    state: async (channel) => {
      await lag();
      const state = await inner.state(channel);
      await lag();
      return state;
    },
    recover: async (channel, since, epoch) => {
      await lag();
      const recovery = await inner.recover(channel, since, epoch);
      await lag();
      return recovery;
    },
    listen: async (channel) => {
      await lag();
      return inner.listen(channel);
    },
    unlisten: (channel) => inner.unlisten(channel),
    sync: () => inner.sync(),
    onPublication: (listener) => inner.onPublication(listener),
    ready: () => inner.ready(),
    close: () => inner.close(),
  };
}
