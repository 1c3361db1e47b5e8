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

describe.skipIf(!redisUrl)("RedisPresence", () => {
  describePresenceContract("contract, two nodes", async () => {
    const prefix = randomPrefix();
    const [one, two] = [await node(prefix), await node(prefix)];
    return {
      first: one.presence,
      second: two.presence,
      async cleanup() {
        for (const { presence, broker } of [one, two]) {
          await presence.close();
          await broker.close();
        }
        await deleteRedisKeys(redisUrl!, prefix);
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
      for (const { presence, broker } of [live, stalled]) {
        await presence.close();
        await broker.close();
      }
      await deleteRedisKeys(redisUrl!, prefix);
    }
  });
});
