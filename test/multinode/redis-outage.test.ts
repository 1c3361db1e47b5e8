// Redis restarted under load: clients stay connected, calls fail with `unavailable` instead of
// hanging, /readyz says not ready, and the nodes recover without a restart.

import { afterAll, beforeAll, expect, test } from "bun:test";
import { startCluster, type Cluster } from "../helpers/cluster.ts";
import { OwnRedis, explainSkip } from "../helpers/services.ts";
import { waitFor } from "../helpers/wait.ts";
import { connectAs } from "../helpers/ws-client.ts";

const skip = explainSkip("the Redis outage test", ["redis", "postgres"]);
let redis: OwnRedis;
let cluster: Cluster;

beforeAll(async () => {
  if (skip) return;
  redis = new OwnRedis();
  await redis.start();
  cluster = await startCluster(2, {}, redis.url);
});
afterAll(async () => {
  if (skip) return;
  await cluster.stop().catch(() => undefined);
  await redis.kill();
});

test.skipIf(skip)("Redis killed and started again while publishers keep going", async () => {
  const [a, b] = cluster.nodes as [NonNullable<(typeof cluster.nodes)[0]>, NonNullable<(typeof cluster.nodes)[0]>];
  const reader = await connectAs(a.wsUrl, await a.token({ sub: "olga" }));
  const writer = await connectAs(b.wsUrl, await b.token({ sub: "olga" }));
  await reader.subscribe("user:olga:feed");
  let sent = 0;
  let failures = 0;
  let stop = false;
  const load = (async () => {
    while (!stop) {
      const reply = await writer.publish("user:olga:feed", { n: ++sent });
      if (reply.channel === "error") {
        expect(reply.payload.code).toBe("unavailable");
        failures++;
      }
      await Bun.sleep(5);
    }
  })();
  await reader.next((frame) => frame.channel === "user:olga:feed");

  await redis.kill();
  await waitFor(() => failures > 0, "publishes to fail with unavailable");
  const subscribeWhileDown = await reader.subscribe("user:olga:other");
  expect(subscribeWhileDown.payload.code).toBe("unavailable");
  expect((await fetch(`${a.httpUrl}/readyz`)).status).toBe(503);
  expect((await fetch(`${a.httpUrl}/healthz`)).status).toBe(200);
  // Both clients are still connected and answered.
  await reader.barrier();
  await writer.barrier();
  expect(reader.closeInfo).toBeUndefined();
  expect(writer.closeInfo).toBeUndefined();

  await redis.start();
  await waitFor(async () => (await fetch(`${a.httpUrl}/readyz`)).status === 200, "node A ready again");
  await waitFor(async () => (await fetch(`${b.httpUrl}/readyz`)).status === 200, "node B ready again");
  const failuresWhenBack = failures;
  reader.drain();
  // The subscription made before the outage delivers again: node A re-subscribed by itself.
  const after = await reader.next((frame) => frame.channel === "user:olga:feed", 10_000);
  expect(after.payload.n).toBeGreaterThan(0);
  stop = true;
  await load;
  expect(failures).toBe(failuresWhenBack);
  expect((await reader.subscribe("user:olga:other")).payload.status).toBe("subscribed");
  reader.close();
  writer.close();
}, 60_000);
