// Publishes of one connection go to the broker without waiting for each other's answers (bounded), and
// their acks and seqs still come back in the order they were sent.

import { afterAll, beforeAll, expect, test } from "bun:test";
import type { Broker, Publication } from "../../src/broker/broker.ts";
import { MemoryBroker } from "../../src/broker/memory-broker.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { waitFor } from "../helpers/wait.ts";
import { connectAs, type Frame } from "../helpers/ws-client.ts";

/** A broker whose publishes wait at a gate, as a networked engine's replies would, until released in order. */
function gatedBroker() {
  const inner = new MemoryBroker({ historySize: 1000, historyTtlS: 3600, historyMaxBytes: 64 * 1024 * 1024, historyMaxChannels: 10_000 });
  const waiting: (() => void)[] = [];
  const broker: Broker = {
    publish: (channel, payload, origin) =>
      new Promise<Publication>((resolve, reject) => waiting.push(() => inner.publish(channel, payload, origin).then(resolve, reject))),
    state: (channel) => inner.state(channel),
    recover: (channel, since, epoch) => inner.recover(channel, since, epoch),
    listen: (channel) => inner.listen(channel),
    unlisten: (channel) => inner.unlisten(channel),
    sync: () => inner.sync(),
    onPublication: (listener) => inner.onPublication(listener),
    ready: () => inner.ready(),
    close: () => inner.close(),
  };
  return {
    broker,
    get waiting() {
      return waiting.length;
    },
    release: () => {
      for (const run of waiting.splice(0)) run();
    },
  };
}

let server: TestServer;
let gate: ReturnType<typeof gatedBroker>;
beforeAll(async () => {
  gate = gatedBroker();
  server = await startTestServer({ RATE_LIMIT_PER_S: "10000", RATE_LIMIT_BURST: "10000" }, { broker: gate.broker });
});
afterAll(() => server.stop());

test("a burst of publishes is in flight at once, up to the bound, and acked in order with consecutive seqs", async () => {
  const publisher = await connectAs(server.wsUrl, await server.token({ sub: "alice" }));
  const watcher = await connectAs(server.wsUrl, await server.token({ sub: "alice" }));
  await watcher.subscribe("user:alice:burst");
  const framesIn = server.app.gateway.metrics.framesIn;
  const framesBefore = framesIn.get();
  for (let index = 1; index <= 100; index++) publisher.send({ channel: "user:alice:burst", id: `p${index}`, payload: { index } });
  // 64 pipelined, and the 65th awaited while the rest wait their turn behind it.
  await waitFor(() => gate.waiting === 65, "65 publishes in flight");
  // Every frame has reached the session now, and still no more than 65 went to the broker.
  await waitFor(() => framesIn.get() === framesBefore + 100, "the server to receive all 100 publishes");
  expect(gate.waiting).toBe(65);
  const isAck = (frame: Frame) => frame.channel === "system" && frame.payload.type === "published";
  const acks: Frame[] = [];
  while (acks.length < 100) {
    gate.release();
    acks.push(await publisher.next(isAck), ...publisher.drain(isAck));
  }
  expect(acks.map((ack) => ack.id)).toEqual(acks.map((_, index) => `p${index + 1}`));
  expect(acks.map((ack) => ack.payload.seq)).toEqual(acks.map((_, index) => index + 1));
  const seen: Frame[] = [];
  while (seen.length < 100) seen.push(await watcher.next((frame) => frame.channel === "user:alice:burst"));
  expect(seen.map((frame) => frame.payload.index)).toEqual(seen.map((_, index) => index + 1));
  expect(seen.map((frame) => frame.seq)).toEqual(seen.map((_, index) => index + 1));
  publisher.close();
  watcher.close();
});
