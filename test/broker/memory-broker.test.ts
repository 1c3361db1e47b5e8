// The in-memory engine's bounds: history size, byte budget and idle expiry, each visible as recovery refused.

import { expect, test } from "bun:test";
import { memoryChannelCost, publicationCost } from "../../src/broker/history-cost.ts";
import { MemoryBroker } from "../../src/broker/memory-broker.ts";
import { describeBrokerContract } from "./broker.contract.ts";
import { describeHistoryBudgetContract } from "./history-budget.contract.ts";

const make = (options: Partial<ConstructorParameters<typeof MemoryBroker>[0]> = {}) =>
  new MemoryBroker({ historySize: 3, historyTtlS: 60, historyMaxBytes: 1_000_000, historyMaxChannels: 1000, ...options });

describeBrokerContract(
  "MemoryBroker",
  async ({ historySize }) => {
    const broker = make({ historySize });
    return { broker, cleanup: () => broker.close() };
  },
);

describeHistoryBudgetContract("MemoryBroker", async (options) => {
  const broker = make(options);
  return { broker, channelCost: memoryChannelCost, historyBytes: async () => broker.historyBytes, cleanup: () => broker.close() };
});

test("seq is gapless per channel and history keeps the last HISTORY_SIZE", async () => {
  const broker = make();
  const seen: number[] = [];
  broker.onPublication((publication) => seen.push(publication.seq));
  await broker.listen("a");
  await broker.listen("b");
  for (let i = 0; i < 5; i++) await broker.publish("a", `{"i":${i}}`);
  await broker.publish("b", "{}");
  expect(seen).toEqual([1, 2, 3, 4, 5, 1]);
  const { epoch } = await broker.state("a");
  expect((await broker.recover("a", 2, epoch)).publications?.map((p) => p.seq)).toEqual([3, 4, 5]);
  expect((await broker.recover("a", 1, epoch)).publications).toBeUndefined();
  await broker.close();
});

test("the byte budget drops the least recently published histories first", async () => {
  // Room for one of the two channels.
  const broker = make({ historySize: 100, historyMaxBytes: memoryChannelCost("old") + publicationCost("old", "x".repeat(60), undefined) + 50 });
  await broker.publish("old", "x".repeat(60));
  await broker.publish("new", "y".repeat(60));
  const old = await broker.state("old");
  const fresh = await broker.state("new");
  expect((await broker.recover("old", 0, old.epoch)).publications).toBeUndefined();
  expect((await broker.recover("new", 0, fresh.epoch)).publications).toHaveLength(1);
  expect(old.seq).toBe(1); // seq survives the trim
  await broker.close();
});

test("idle channels nobody listens to are forgotten, and come back with a new epoch", async () => {
  const broker = make({ historyTtlS: 1 });
  await broker.publish("idle", "{}");
  await broker.listen("kept");
  const before = await broker.state("idle");
  broker.sweep(Date.now() + 5000);
  expect(broker.channelCount).toBe(1);
  const after = await broker.state("idle");
  expect(after.seq).toBe(0);
  expect(after.epoch).not.toBe(before.epoch);
  await broker.close();
});

test("past HISTORY_MAX_CHANNELS the least recently published unlistened channels are forgotten", async () => {
  const broker = make({ historyMaxChannels: 3 });
  await broker.listen("watched");
  await broker.publish("watched", "{}");
  const first = await broker.state("a");
  await broker.publish("a", "{}");
  await broker.publish("b", "{}");
  await broker.publish("c", "{}");
  expect(broker.channelCount).toBe(3);
  expect((await broker.state("watched")).seq).toBe(1);
  const again = await broker.state("a");
  expect(again.epoch).not.toBe(first.epoch);
  expect(again.seq).toBe(0);
  await broker.close();
});
