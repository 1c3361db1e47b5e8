// Presence across nodes on Redis (docs/protocol.md section 14): one view, joins and the agent seen from
// every node, a killed node's clients leaving on the others, and a restarted node bringing none back.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { RedisClient } from "bun";
import { join } from "node:path";
import { textResponse } from "../helpers/fake-openai.ts";
import { startCluster, type Cluster } from "../helpers/cluster.ts";
import { connectWithId, PresenceView } from "../helpers/presence.ts";
import { ROOT, spawnServer, type RunningServer } from "../helpers/process.ts";
import { collectRun, send } from "../helpers/runs.ts";
import { TEST_SECRET } from "../helpers/server.ts";
import { explainSkip } from "../helpers/services.ts";
import { waitFor } from "../helpers/wait.ts";
import type { TestClient } from "../helpers/ws-client.ts";

const skip = explainSkip("the presence cluster tests", ["redis", "postgres"]);

describe.skipIf(skip)("presence on two nodes", () => {
  let cluster: Cluster;
  const clients: TestClient[] = [];
  const connect = async (wsUrl: string, sub: string) => {
    const connection = await connectWithId(wsUrl, await cluster.nodes[0]!.token({ sub, subscribe: ["room:*"] }));
    clients.push(connection.client);
    return connection;
  };
  const query = async (client: TestClient, channel: string) =>
    ((await client.request("subscription", { action: "presence", channel })).payload.clients as { client: string }[]).map((present) => present.client).sort();
  const spawnNode = (name: string): Promise<RunningServer> =>
    spawnServer(["bun", "run", join(ROOT, "src/index.ts")], {
      cwd: ROOT,
      env: { ...cluster.env, JWT_SECRET: TEST_SECRET, DATA_DIR: join(cluster.nodes[0]!.dataDir, name), LOG_LEVEL: "info" },
    });

  beforeAll(async () => {
    // A short node TTL keeps the test quick; the default (15 s) has a dead node's clients gone within 20 s.
    cluster = await startCluster(2, { PRESENCE_NODE_TTL_S: "2" });
  });
  afterAll(async () => {
    for (const client of clients) client.close();
    await cluster?.stop();
  });

  test("a client on node B sees joins, leaves and the agent of node A; the query lists both nodes' clients", async () => {
    const [nodeA, nodeB] = cluster.nodes;
    const watcher = await connect(nodeB!.wsUrl, "wes");
    await watcher.client.subscribe("room:x", { presence: true });
    const view = new PresenceView(watcher.client, "room:x");
    const onA = await connect(nodeA!.wsUrl, "ana");
    await onA.client.subscribe("room:x");
    await waitFor(() => view.take().present.get(onA.id)?.user === "ana", "node B's watcher to see the join on node A");
    expect(await query(watcher.client, "room:x")).toEqual([watcher.id, onA.id].sort());
    expect(await query(onA.client, "room:x")).toEqual([watcher.id, onA.id].sort());
    onA.client.close();
    await waitFor(() => !view.take().present.has(onA.id), "the leave on node A to reach node B");

    // The agent runs on node A; the owner watches the thread from node B.
    const owner = await connect(nodeA!.wsUrl, "olive");
    const ownerOnB = await connect(nodeB!.wsUrl, "olive");
    const created = await fetch(`${nodeA!.httpUrl}/threads`, { method: "POST", headers: { authorization: `Bearer ${await nodeA!.token({ sub: "olive" })}` } });
    const thread = (await created.json()) as { id: string };
    await ownerOnB.client.subscribe(`thread:${thread.id}`, { presence: true });
    const threadView = new PresenceView(ownerOnB.client, `thread:${thread.id}`);
    cluster.fake.enqueue(textResponse("word ".repeat(60), { chunkSize: 5, delayMs: 15 }));
    const ack = await send(owner.client, "talk", { thread_id: thread.id });
    await waitFor(() => threadView.take().present.get(ack.message_id)?.state === "responding", "node B to see the agent responding");
    await collectRun(owner.client, ack.message_id);
    await waitFor(() => !threadView.take().present.has(ack.message_id), "node B to see the agent leave");
  });

  test("removing a member on node A ends its subscription on node B before the answer", async () => {
    const [nodeA, nodeB] = cluster.nodes;
    const ownerToken = await nodeA!.token({ sub: "oscar" });
    const created = await fetch(`${nodeA!.httpUrl}/threads`, { method: "POST", headers: { authorization: `Bearer ${ownerToken}` } });
    const thread = (await created.json()) as { id: string };
    const share = (method: string, body?: unknown) =>
      fetch(`${nodeA!.httpUrl}/threads/${thread.id}/members/mia`, {
        method,
        headers: { authorization: `Bearer ${ownerToken}`, "content-type": "application/json" },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    expect((await share("PUT", { role: "viewer" })).status).toBe(200);
    const member = await connect(nodeB!.wsUrl, "mia");
    expect((await member.client.subscribe(`thread:${thread.id}`)).payload.status).toBe("subscribed");
    expect((await share("DELETE")).status).toBe(204);
    const ended = await member.client.next((frame) => frame.channel === "subscription" && frame.payload.status === "unsubscribed");
    expect(ended.payload).toEqual({ status: "unsubscribed", channel: `thread:${thread.id}`, reason: "forbidden" });
  });

  test("killing a node makes its clients leave on the others; a restarted node brings none back", async () => {
    const nodeB = cluster.nodes[1]!;
    const watcher = await connect(nodeB.wsUrl, "wes");
    await watcher.client.subscribe("room:doom", { presence: true });
    const view = new PresenceView(watcher.client, "room:doom");
    const doomed = await spawnNode("doomed");
    let restarted: RunningServer | undefined;
    try {
      const victims = [await connect(`ws://localhost:${doomed.port}/ws`, "vic"), await connect(`ws://localhost:${doomed.port}/ws`, "val")];
      for (const victim of victims) await victim.client.subscribe("room:doom");
      await waitFor(() => victims.every((victim) => view.take().present.has(victim.id)), "the joins on the doomed node");
      doomed.process.kill("SIGKILL");
      await doomed.exited;
      // A node started at once gets a new id: it cannot keep the dead node's entries alive.
      restarted = await spawnNode("restarted");
      const fresh = await connect(`ws://localhost:${restarted.port}/ws`, "fay");
      await fresh.client.subscribe("room:doom");
      await waitFor(() => victims.every((victim) => !view.take().present.has(victim.id)), "the dead node's clients to leave", { timeoutMs: 30_000 });
      expect(view.frames.every((frame) => frame.seq === undefined)).toBe(true);
      expect(await query(watcher.client, "room:doom")).toEqual([watcher.id, fresh.id].sort());
      expect(await query(fresh.client, "room:doom")).toEqual([watcher.id, fresh.id].sort());
      const redis = new RedisClient(cluster.redisUrl);
      try {
        const nodes = (await redis.send("ZRANGE", [`${cluster.prefix}presence:nodes`, "0", "-1"])) as string[];
        expect(nodes).toHaveLength(3);
        expect((await redis.send("HKEYS", [`${cluster.prefix}{room:doom}:present`])) as string[]).not.toContain(victims[0]!.id);
      } finally {
        redis.close();
      }
    } finally {
      doomed.process.kill("SIGKILL");
      restarted?.process.kill("SIGKILL");
      await restarted?.exited;
    }
  }, 45_000);
});
