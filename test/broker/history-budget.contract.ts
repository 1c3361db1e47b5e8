// The history byte budgets, run against every engine: per channel and in total, seen as recovery refused, never a gap.

import { afterEach, describe, expect, test } from "bun:test";
import type { Broker } from "../../src/broker/broker.ts";
import { publicationCost } from "../../src/broker/history-cost.ts";

export interface HistoryBudgetOptions {
  historySize: number;
  historyMaxBytes: number;
  historyChannelMaxBytes: number;
}

export interface BudgetedBrokerUnderTest {
  broker: Broker;
  /** What a channel holding history counts in this engine, besides its publications. */
  channelCost(channel: string): number;
  /** The engine's total counted against historyMaxBytes. */
  historyBytes(): Promise<number>;
  cleanup(): Promise<void>;
}

const ORIGIN = "connection-1";

export function describeHistoryBudgetContract(
  name: string,
  create: (options: HistoryBudgetOptions) => Promise<BudgetedBrokerUnderTest>,
): void {
  describe(`History budget contract: ${name}`, () => {
    let current: BudgetedBrokerUnderTest | undefined;
    let counter = 0;
    // Names of one length, so that every channel of a test costs the same.
    const channel = (label: string) => `${label}-${Date.now().toString(36)}-${String(++counter).padStart(4, "0")}`;

    const start = async (options: Partial<HistoryBudgetOptions>): Promise<BudgetedBrokerUnderTest> => {
      current = await create({ historySize: 100, historyMaxBytes: 64 * 1024 * 1024, historyChannelMaxBytes: 64 * 1024 * 1024, ...options });
      return current;
    };

    afterEach(async () => {
      await current?.cleanup();
      current = undefined;
    });

    test("past its byte budget a channel drops its oldest publications, and resuming before them is refused", async () => {
      const a = channel("bytes");
      const payload = JSON.stringify({ text: "x".repeat(500) });
      const cost = publicationCost(a, payload, ORIGIN);
      // Room for three publications, not four, far below the count limit.
      const { broker } = await start({ historyChannelMaxBytes: 3 * cost + cost / 2 });
      for (let index = 0; index < 5; index++) await broker.publish(a, payload, ORIGIN);
      const { epoch } = await broker.state(a);
      expect((await broker.recover(a, 1, epoch)).publications).toBeUndefined();
      expect((await broker.recover(a, 2, epoch)).publications?.map((publication) => publication.seq)).toEqual([3, 4, 5]);

      // One publication over the budget by itself is not kept, and takes the rest with it.
      await broker.publish(a, JSON.stringify({ text: "y".repeat(4 * cost) }), ORIGIN);
      const after = await broker.recover(a, 5, epoch);
      expect(after.publications).toBeUndefined();
      expect(after.state).toEqual({ seq: 6, epoch });
      await broker.publish(a, payload, ORIGIN);
      expect((await broker.recover(a, 6, epoch)).publications?.map((publication) => publication.seq)).toEqual([7]);
    });

    test("past the total budget the least recently published channel loses its history and keeps seq and epoch", async () => {
      const [old, middle, fresh] = [channel("old"), channel("mid"), channel("new")];
      // Small enough that the budget is mostly what the publications cost beyond their payloads.
      const payload = JSON.stringify({ text: "z".repeat(200) });
      const probe = await start({});
      // Room for the two later channels and the old one's seq and epoch, which some engines keep counting.
      const held = (name: string) => probe.channelCost(name) + 3 * publicationCost(name, payload, ORIGIN);
      const budget = probe.channelCost(old) + held(middle) + held(fresh);
      await probe.cleanup();
      const { broker, historyBytes } = await start({ historyMaxBytes: budget });

      for (const name of [old, middle, fresh]) for (let index = 0; index < 3; index++) await broker.publish(name, payload, ORIGIN);
      expect(await historyBytes()).toBeLessThanOrEqual(budget);
      const oldState = await broker.state(old);
      expect(oldState.seq).toBe(3);
      expect((await broker.recover(old, 0, oldState.epoch)).publications).toBeUndefined();
      expect((await broker.recover(old, 2, oldState.epoch)).publications).toBeUndefined();
      // Up to date is still up to date: the epoch did not change.
      expect((await broker.recover(old, 3, oldState.epoch)).publications).toEqual([]);
      for (const name of [middle, fresh]) {
        const { epoch } = await broker.state(name);
        expect((await broker.recover(name, 0, epoch)).publications?.map((publication) => publication.seq)).toEqual([1, 2, 3]);
      }
      // The old channel publishes on from seq 4 in the same epoch, and history starts there.
      expect(await broker.publish(old, payload, ORIGIN)).toMatchObject({ seq: 4, epoch: oldState.epoch });
      expect((await broker.recover(old, 3, oldState.epoch)).publications?.map((publication) => publication.seq)).toEqual([4]);
    });

    test("a channel a node listens to keeps seq and epoch through any flood, so its subscribers never see seqs go back", async () => {
      const budget = 64 * 1024;
      const { broker, historyBytes } = await start({ historyMaxBytes: budget });
      const watched = channel("watched");
      const received: number[] = [];
      broker.onPublication((publication) => {
        if (publication.channel === watched) received.push(publication.seq);
      });
      await broker.listen(watched);
      const first = await broker.publish(watched, "{}", ORIGIN);
      for (let index = 0; index < 300; index++) await broker.publish(`user:alice:${channel("flood")}`, "{}", ORIGIN);
      expect(await historyBytes()).toBeLessThanOrEqual(budget);
      expect(await broker.state(watched)).toEqual({ seq: 1, epoch: first.epoch });
      expect(await broker.publish(watched, "{}", ORIGIN)).toMatchObject({ seq: 2, epoch: first.epoch });
      await broker.sync();
      expect(received).toEqual([1, 2]);
    });

    test("a flood of empty publications to many channels stays within the total budget, newest kept", async () => {
      const budget = 64 * 1024;
      const { broker, historyBytes } = await start({ historyMaxBytes: budget });
      const names = Array.from({ length: 200 }, () => `user:alice:${channel("flood")}`);
      const first = await broker.publish(names[0]!, "{}", ORIGIN);
      for (let round = 0; round < 3; round++) {
        for (const name of names.slice(round === 0 ? 1 : 0)) await broker.publish(name, "{}", ORIGIN);
        expect(await historyBytes()).toBeLessThanOrEqual(budget);
      }
      const last = names.at(-1)!;
      // Its seq is 3, or lower where the engine forgot the channel in an earlier round.
      const { seq, epoch } = await broker.state(last);
      expect((await broker.recover(last, seq - 1, epoch)).publications?.map((publication) => publication.seq)).toEqual([seq]);
      // Long evicted: refused, whether the engine kept its seq and epoch or forgot the channel.
      expect((await broker.recover(first.channel, 0, first.epoch)).publications).toBeUndefined();
    });
  });
}
