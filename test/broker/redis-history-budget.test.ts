// The Redis engine's history budgets on a real Redis: what its keys take, trimming, eviction and expiry.

import { afterEach, describe, expect, test } from "bun:test";
import { RedisClient } from "bun";
import { publicationCost, redisChannelCost, redisMetaCost, REDIS_CHANNEL_OVERHEAD_BYTES, REDIS_META_OVERHEAD_BYTES } from "../../src/broker/history-cost.ts";
import { RedisBroker, budgetKeys, channelKeys, type RedisBrokerOptions } from "../../src/broker/redis-broker.ts";
import { deleteRedisKeys, explainSkip, randomPrefix, testRedisUrl } from "../helpers/services.ts";
import { waitFor } from "../helpers/wait.ts";
import { describeHistoryBudgetContract } from "./history-budget.contract.ts";

explainSkip("the Redis history budget tests", ["redis"]);

describe.skipIf(!testRedisUrl)("RedisBroker history budgets", () => {
  const url = testRedisUrl!;
  const cleanups: Array<() => Promise<void>> = [];

  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  async function connect(options: Partial<RedisBrokerOptions> = {}): Promise<RedisBroker> {
    const prefix = randomPrefix();
    cleanups.push(() => deleteRedisKeys(url, prefix));
    const broker = await RedisBroker.connect({ url, prefix, historySize: 100, historyTtlS: 60, ...options });
    cleanups.push(() => broker.close());
    return broker;
  }

  async function admin(): Promise<RedisClient> {
    const client = new RedisClient(url);
    await client.connect();
    cleanups.push(async () => client.close());
    return client;
  }

  /** Keys under the prefix and the sum of their MEMORY USAGE. */
  async function prefixMemory(client: RedisClient, prefix: string): Promise<{ keys: number; bytes: number }> {
    let cursor = "0";
    let keys = 0;
    let bytes = 0;
    do {
      const [next, found] = (await client.send("SCAN", [cursor, "MATCH", `${prefix}*`, "COUNT", "1000"])) as [string, string[]];
      cursor = next;
      for (const key of found) {
        keys++;
        bytes += Number((await client.send("MEMORY", ["USAGE", key, "SAMPLES", "0"])) ?? 0);
      }
    } while (cursor !== "0");
    return { keys, bytes };
  }

  /** The total always equals the sum of the per-channel sizes, which name exactly the channels of the sorted set. */
  async function expectConsistent(client: RedisClient, broker: RedisBroker): Promise<void> {
    const keys = budgetKeys(broker.prefix);
    const sizes = (await client.send("HVALS", [keys.sizes])) as string[];
    expect(await broker.historyBytes()).toBe(sizes.reduce((total, size) => total + Number(size), 0));
    expect(await client.send("ZCARD", [keys.channels])).toBe(sizes.length);
  }

  describeHistoryBudgetContract("RedisBroker", async (options) => {
    const prefix = randomPrefix();
    const broker = await RedisBroker.connect({ url, prefix, historyTtlS: 60, ...options });
    return {
      broker,
      channelCost: (channel) => redisChannelCost(prefix, channel),
      historyBytes: () => broker.historyBytes(),
      cleanup: async () => {
        await broker.close();
        await deleteRedisKeys(url, prefix);
      },
    };
  });

  test("what a channel is counted at covers what its keys take in Redis", async () => {
    const broker = await connect({ historyMaxBytes: 2 ** 40 });
    const client = await admin();
    for (let index = 0; index < 2000; index++) await broker.publish(`user:alice:${index}`, "{}", "connection-1");
    const { bytes } = await prefixMemory(client, broker.prefix);
    expect(bytes).toBeLessThanOrEqual(await broker.historyBytes());
    // Mostly the stream's first node, allocated whole: a channel really is that dear.
    expect(bytes / 2000).toBeGreaterThan(REDIS_CHANNEL_OVERHEAD_BYTES / 2);
  });

  test("a flood of publications to distinct user:alice:N channels keeps the prefix's keys near the budget", async () => {
    const budget = 256 * 1024;
    const broker = await connect({ historyMaxBytes: budget });
    const client = await admin();
    // Without a byte budget these alone take some 15 MB: mostly a 4 KiB stream node per channel.
    for (let index = 0; index < 3000; index++) await broker.publish(`user:alice:${index}`, "{}", "connection-1");
    const { keys, bytes } = await prefixMemory(client, broker.prefix);
    expect(await broker.historyBytes()).toBeLessThanOrEqual(budget);
    expect(bytes).toBeLessThanOrEqual(budget);
    // A meta and a stream per channel still counted, and the three budget keys.
    expect(keys).toBeLessThanOrEqual((2 * budget) / REDIS_CHANNEL_OVERHEAD_BYTES + 3);
    await expectConsistent(client, broker);
  });

  test("what a channel never published to is counted at covers what its keys take in Redis", async () => {
    const broker = await connect({ historyMaxBytes: 2 ** 40 });
    const client = await admin();
    for (let index = 0; index < 2000; index++) await broker.state(`user:alice:${index}`);
    const { bytes } = await prefixMemory(client, broker.prefix);
    expect(bytes).toBeLessThanOrEqual(await broker.historyBytes());
    expect(bytes / 2000).toBeGreaterThan(REDIS_META_OVERHEAD_BYTES / 2);
  });

  test("a meta counts from the subscribe that creates it, as a channel with history from its first publication, and using it again costs nothing more", async () => {
    const broker = await connect();
    const client = await admin();
    const { channels } = budgetKeys(broker.prefix);
    const name = "only-subscribed";
    const { epoch } = await broker.state(name);
    expect(await broker.historyBytes()).toBe(redisMetaCost(broker.prefix, name));
    const created = await client.send("ZSCORE", [channels, name]);
    // Neither the total nor the sorted set is touched by a channel that has its meta already.
    await broker.state(name);
    expect((await broker.recover(name, 0, epoch)).publications).toEqual([]);
    expect(await broker.historyBytes()).toBe(redisMetaCost(broker.prefix, name));
    expect(await client.send("ZSCORE", [channels, name])).toBe(created);
    expect(await broker.publish(name, "{}")).toMatchObject({ seq: 1, epoch });
    expect(await broker.historyBytes()).toBe(redisChannelCost(broker.prefix, name) + publicationCost(name, "{}", undefined));
    await expectConsistent(client, broker);
  });

  test("subscribing to ever new user:alice:N names keeps the prefix's keys near the budget, and a listened channel keeps its epoch", async () => {
    const budget = 64 * 1024;
    const broker = await connect({ historyMaxBytes: budget });
    const client = await admin();
    await broker.listen("watched");
    const watched = await broker.state("watched");
    // Without counting their metas these alone take some 1 MB, for HISTORY_TTL_S; half resume from a stale epoch.
    for (let index = 0; index < 3000; index++) {
      if (index % 2 === 0) await broker.state(`user:alice:${index}`);
      else expect((await broker.recover(`user:alice:${index}`, 5, "stale")).publications).toBeUndefined();
    }
    const { keys, bytes } = await prefixMemory(client, broker.prefix);
    expect(await broker.historyBytes()).toBeLessThanOrEqual(budget);
    expect(bytes).toBeLessThanOrEqual(budget);
    // A meta per channel still counted, and the three budget keys.
    expect(keys).toBeLessThanOrEqual(budget / REDIS_META_OVERHEAD_BYTES + 3);
    // Picked as the least recently used more than once, and only marked as just used: still counted, same epoch.
    expect(await client.send("ZSCORE", [budgetKeys(broker.prefix).channels, "watched"])).not.toBeNull();
    expect(await broker.state("watched")).toEqual(watched);
    expect(await broker.publish("watched", "{}")).toMatchObject({ seq: 1, epoch: watched.epoch });
    await expectConsistent(client, broker);
  });

  test("trimming by count or by bytes keeps the stream, the channel's bytes and the total in step", async () => {
    const payload = JSON.stringify({ text: "x".repeat(300) });
    const cost = publicationCost("trimmed", payload, undefined);
    const broker = await connect({ historySize: 5, historyChannelMaxBytes: 3 * cost + 10 });
    const client = await admin();
    const keys = channelKeys(broker.prefix, "trimmed");
    for (let index = 0; index < 10; index++) await broker.publish("trimmed", payload);
    expect(await client.send("XLEN", [keys.history])).toBe(3);
    expect(Number(await client.send("HGET", [keys.meta, "bytes"]))).toBe(3 * cost);
    expect(await broker.historyBytes()).toBe(redisChannelCost(broker.prefix, "trimmed") + 3 * cost);

    const counted = await connect({ historySize: 5 });
    const countedKeys = channelKeys(counted.prefix, "counted");
    for (let index = 0; index < 12; index++) await counted.publish("counted", payload, "connection-1");
    expect(await client.send("XLEN", [countedKeys.history])).toBe(5);
    expect(Number(await client.send("HGET", [countedKeys.meta, "bytes"]))).toBe(5 * publicationCost("counted", payload, "connection-1"));
    await expectConsistent(client, counted);
  });

  test("past the total a channel loses its history first, then its seq and epoch once it is the least recent again", async () => {
    const payload = JSON.stringify({ text: "x".repeat(2000) });
    const cost = (channel: string) => publicationCost(channel, payload, undefined);
    const prefix = randomPrefix();
    const channel = (name: string) => redisChannelCost(prefix, name);
    // Room for the second channel and the first one's seq and epoch, not for more.
    const budget = channel("first") + channel("secnd") + 2 * cost("secnd") + cost("secnd") / 2;
    cleanups.push(() => deleteRedisKeys(url, prefix));
    const broker = await RedisBroker.connect({ url, prefix, historySize: 100, historyTtlS: 60, historyMaxBytes: budget });
    cleanups.push(() => broker.close());
    const client = await admin();

    const first = await broker.publish("first", payload);
    await broker.publish("secnd", payload);
    await broker.publish("secnd", payload);
    // The first channel's history went, its seq and epoch stayed.
    expect(await client.send("EXISTS", [channelKeys(prefix, "first").history])).toBe(0);
    expect(await broker.state("first")).toEqual({ seq: 1, epoch: first.epoch });
    await broker.publish("secnd", payload);
    // Over again, and the first channel is still the least recently published: now it is forgotten.
    expect(await client.send("EXISTS", [channelKeys(prefix, "first").meta])).toBe(0);
    expect((await broker.recover("first", 1, first.epoch)).publications).toBeUndefined();
    expect((await broker.state("secnd")).seq).toBe(3);
    await expectConsistent(client, broker);
  });

  test("channels whose keys expired stop counting: the sweep takes them off, and keeps those still in use", async () => {
    const broker = await connect({ historyTtlS: 1 });
    const client = await admin();
    for (const name of ["gone-1", "gone-2", "kept"]) await broker.publish(name, "{}");
    // Only subscribed to: counted all the same, and taken off the same way.
    await broker.state("gone-3");
    // Touched since (as a subscribe would), so it outlives the others.
    await client.send("PEXPIRE", [channelKeys(broker.prefix, "kept").meta, "60000"]);
    const expected = redisChannelCost(broker.prefix, "kept") + publicationCost("kept", "{}", undefined);
    const gone = ["gone-1", "gone-2", "gone-3"].map((name) => channelKeys(broker.prefix, name).meta);
    await waitFor(async () => (await client.send("EXISTS", gone)) === 0, "the keys of three channels to expire");
    // Every node sweeps on a timer (here every second, the TTL); calling it too changes nothing.
    await waitFor(async () => (await broker.sweepExpired(), await broker.historyBytes()) === expected, "the expired channels to be taken off");
    // The one still there is not looked at again before it too could have expired.
    expect(await broker.sweepExpired()).toBe(0);
    expect(await client.send("ZRANGE", [budgetKeys(broker.prefix).channels, "0", "-1"])).toEqual(["kept"]);
    await expectConsistent(client, broker);
  });

  test("a channel whose keys went is taken off when it is used again or when eviction meets it", async () => {
    const payload = JSON.stringify({ text: "x".repeat(1000) });
    const prefix = randomPrefix();
    const budget = 3 * (redisChannelCost(prefix, "chan-a") + 2 * publicationCost("chan-a", payload, undefined));
    cleanups.push(() => deleteRedisKeys(url, prefix));
    const broker = await RedisBroker.connect({ url, prefix, historySize: 100, historyTtlS: 60, historyMaxBytes: budget });
    cleanups.push(() => broker.close());
    const client = await admin();
    for (const name of ["chan-a", "chan-b"]) for (let index = 0; index < 2; index++) await broker.publish(name, payload);
    // As if they had expired.
    await client.send("DEL", [channelKeys(prefix, "chan-a").meta, channelKeys(prefix, "chan-a").history]);
    await client.send("DEL", [channelKeys(prefix, "chan-b").meta, channelKeys(prefix, "chan-b").history]);

    // Used again: counted afresh (its meta for now), its old history no longer.
    await broker.state("chan-b");
    const chanA = redisChannelCost(prefix, "chan-a") + 2 * publicationCost("chan-a", payload, undefined);
    expect(await broker.historyBytes()).toBe(chanA + redisMetaCost(prefix, "chan-b"));
    await broker.publish("chan-b", payload);

    // Over budget: the expired one is met first and only taken off; the others keep their history.
    for (const name of ["chan-c", "chan-d"]) for (let index = 0; index < 2; index++) await broker.publish(name, payload);
    expect(await client.send("ZRANGE", [budgetKeys(prefix).channels, "0", "-1"])).toEqual(["chan-b", "chan-c", "chan-d"]);
    const { epoch } = await broker.state("chan-b");
    expect((await broker.recover("chan-b", 0, epoch)).publications).toHaveLength(1);
    await expectConsistent(client, broker);
  });
});
