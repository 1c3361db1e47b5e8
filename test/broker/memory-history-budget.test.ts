// The memory engine's byte accounting against what its histories really take, measured on this runtime.

import { expect, test } from "bun:test";
import { memoryUsage } from "bun:jsc";
import { PUBLICATION_OVERHEAD_BYTES } from "../../src/broker/history-cost.ts";
import { MemoryBroker } from "../../src/broker/memory-broker.ts";

const ORIGIN = crypto.randomUUID();

const make = (options: Partial<ConstructorParameters<typeof MemoryBroker>[0]> = {}) =>
  new MemoryBroker({ historySize: 1000, historyTtlS: 3600, historyMaxBytes: 2 ** 40, historyMaxChannels: 1_000_000, ...options });

/** Bytes the process holds after a full collection: the allocator's count, which follows RSS here. */
function held(): number {
  Bun.gc(true);
  Bun.gc(true);
  return memoryUsage().current;
}

/** Publishes `{}` payloads as the gateway does (channel parsed from a frame, payload serialised again). */
async function flood(broker: MemoryBroker, publications: number, channels: number): Promise<void> {
  for (let index = 0; index < publications; index++) {
    const frame = JSON.parse(`{"channel":"user:alice:${index % channels}","payload":{}}`) as { channel: string; payload: object };
    await broker.publish(frame.channel, JSON.stringify(frame.payload), ORIGIN);
  }
}

/** Memory growth per publication kept, 100 to a channel: the figure PUBLICATION_OVERHEAD_BYTES was set from. */
async function measuredPublicationBytes(): Promise<number> {
  const broker = make();
  await flood(broker, 1000, 10);
  const before = held();
  await flood(broker, 200_000, 2000);
  const grown = held() - before;
  const kept = broker.historyLength - 1000;
  await broker.close();
  return grown / kept;
}

test("what the memory engine counts covers what its histories really take", async () => {
  const broker = make();
  const before = held();
  await flood(broker, 200_000, 20_000);
  const grown = held() - before;
  expect(broker.historyLength).toBe(200_000);
  // Publications and channels both: ten publications on each of 20,000 channels.
  expect(grown).toBeLessThanOrEqual(broker.historyBytes);
  expect(await measuredPublicationBytes()).toBeLessThanOrEqual(PUBLICATION_OVERHEAD_BYTES + "user:alice:1234".length + 2 + ORIGIN.length);
  await broker.close();
});

test("with a small HISTORY_MAX_BYTES a flood of empty publications keeps what it holds within the budget", async () => {
  const budget = 1024 * 1024;
  const broker = make({ historyMaxBytes: budget });
  await flood(broker, 200_000, 5000);
  expect(broker.historyBytes).toBeLessThanOrEqual(budget);
  // Kept publications at what each really takes still fit in the budget.
  expect(broker.historyLength * (await measuredPublicationBytes())).toBeLessThanOrEqual(budget);
  expect(broker.historyLength).toBeGreaterThan(0);
  await broker.close();
});
