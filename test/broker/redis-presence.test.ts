// The Redis presence engine: the shared contract with two nodes on one Redis, and a node whose heartbeat
// stopped losing its clients to the other.

import { describe, expect, test } from "bun:test";
import { RedisBroker } from "../../src/broker/redis-broker.ts";
import { RedisPresence } from "../../src/broker/redis-presence.ts";
import type { PresenceEvent } from "../../src/broker/presence.ts";
import { createLogger } from "../../src/observability/log.ts";
import { deleteRedisKeys, explainSkip, randomPrefix, testRedisUrl } from "../helpers/services.ts";
import { waitFor } from "../helpers/wait.ts";
import { describePresenceContract } from "./presence.contract.ts";

const redisUrl = testRedisUrl;
explainSkip("the Redis presence tests", ["redis"]);

async function node(prefix: string, nodeTtlMs = 15_000) {
  const broker = await RedisBroker.connect({ url: redisUrl!, prefix, historySize: 10, historyTtlS: 60 });
  const presence = await RedisPresence.open({ nodeId: crypto.randomUUID(), prefix, commands: broker.commands, subscriber: broker.subscriber, logger: createLogger("silent"), nodeTtlMs });
  return { broker, presence };
}

async function closeNodes(prefix: string, nodes: Awaited<ReturnType<typeof node>>[]) {
  for (const { presence, broker } of nodes) {
    await presence.close();
    await broker.close();
  }
  await deleteRedisKeys(redisUrl!, prefix);
}

describe.skipIf(!redisUrl)("RedisPresence", () => {
  describePresenceContract("contract, two nodes", async () => {
    const prefix = randomPrefix();
    const [one, two] = [await node(prefix), await node(prefix)];
    return {
      first: one.presence,
      second: two.presence,
      async cleanup() {
        await closeNodes(prefix, [one, two]);
      },
    };
  });

  test("a node that stops heartbeating loses its clients, with a leave each, to a live node", async () => {
    const prefix = randomPrefix();
    const live = await node(prefix, 600);
    const stalled = await node(prefix, 600);
    try {
      const seen: PresenceEvent[] = [];
      live.presence.onEvent((event) => seen.push(event));
      await live.presence.watch("room");
      await stalled.presence.join("room", { user: "sam", client: "s1", since: 1 });
      await live.presence.join("room", { user: "liv", client: "l1", since: 2 });
      // Its timer stopped as a frozen or killed process's would: no heartbeat, no cleanup.
      clearInterval((stalled.presence as unknown as { timer: Timer }).timer);
      await waitFor(() => seen.some((event) => event.change.action === "leave" && event.change.client === "s1"), "the stalled node's client to leave");
      expect((await live.presence.list("room", 10, undefined)).clients.map((client) => client.client)).toEqual(["l1"]);
    } finally {
      await closeNodes(prefix, [live, stalled]);
    }
  });

  test("a storm of joins and leaves in one turn reaches Redis and the watchers complete and in order", async () => {
    const prefix = randomPrefix();
    const [one, two] = [await node(prefix), await node(prefix)];
    try {
      const seen: PresenceEvent[] = [];
      two.presence.onEvent((event) => seen.push(event));
      await two.presence.watch("room");
      // More than one script call holds, on the watched channel and on others nobody watches.
      const writes: Promise<void>[] = [];
      for (let index = 0; index < 1200; index++) {
        writes.push(one.presence.join(index % 2 ? "room" : `elsewhere:${index}`, { user: `u${index}`, client: `c${String(index).padStart(4, "0")}`, since: index }));
      }
      writes.push(one.presence.join("room", { user: "brief", client: "b1", since: 1 }), one.presence.leave("room", "b1"), one.presence.leave("room", "c0001"));
      await Promise.all(writes);
      await waitFor(() => seen.length === 603, "every change of the watched channel");
      const clients = (change: PresenceEvent["change"]) => `${change.action} ${change.client}`;
      const joins = Array.from({ length: 600 }, (_, half) => `join c${String(half * 2 + 1).padStart(4, "0")}`);
      expect(seen.map((event) => clients(event.change))).toEqual([...joins, "join b1", "leave b1", "leave c0001"]);
      const listed = await two.presence.list("room", 1000, undefined);
      expect(listed.clients.map((client) => client.client)).toEqual(joins.slice(1).map((join) => join.slice(5)));
      expect((await two.presence.list("elsewhere:0", 10, undefined)).clients).toEqual([{ user: "u0", client: "c0000", since: 0 }]);
    } finally {
      await closeNodes(prefix, [one, two]);
    }
  });

  test("joins that cannot be written fail their callers and are logged once for the batch", async () => {
    const prefix = randomPrefix();
    const broker = await RedisBroker.connect({ url: redisUrl!, prefix, historySize: 10, historyTtlS: 60 });
    const lines: string[] = [];
    const presence = await RedisPresence.open({ nodeId: crypto.randomUUID(), prefix, commands: broker.commands, subscriber: broker.subscriber, logger: createLogger("warn", (line) => lines.push(line)), nodeTtlMs: 15_000 });
    try {
      await broker.close();
      const writes = [presence.join("room", { user: "ann", client: "c1", since: 1 }), presence.join("room", { user: "bob", client: "c2", since: 2 }), presence.leave("room", "c3")];
      for (const write of writes) await expect(write).rejects.toThrow();
      expect(lines.map((line) => JSON.parse(line)).filter((record) => record.msg === "presence joins and leaves failed")).toMatchObject([{ writes: 3 }]);
    } finally {
      await presence.close();
      await deleteRedisKeys(redisUrl!, prefix);
    }
  });
});
