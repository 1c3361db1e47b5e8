// Every guarantee across nodes: delivery, one seq, recovery elsewhere, runs controlled from any node,
// one active run per thread, a node killed mid-run (docs/protocol.md section 9.6, over Redis and PostgreSQL).

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { join } from "node:path";
import { textResponse, toolCallResponse } from "../helpers/fake-openai.ts";
import { ROOT, spawnServer } from "../helpers/process.ts";
import { collectRun, deltas, send, shape } from "../helpers/runs.ts";
import { startCluster, type Cluster } from "../helpers/cluster.ts";
import { TEST_SECRET } from "../helpers/server.ts";
import { explainSkip } from "../helpers/services.ts";
import { waitFor } from "../helpers/wait.ts";
import { connectAs, type Frame, type TestClient } from "../helpers/ws-client.ts";

const skip = explainSkip("the multi-node tests", ["redis", "postgres"]);

describe.skipIf(skip)("several nodes on one Redis and one PostgreSQL", () => {
  let cluster: Cluster;
  const connect = async (node: number, sub: string, claims: { subscribe?: string[]; publish?: string[] } = {}) =>
    connectAs(cluster.nodes[node]!.wsUrl, await cluster.nodes[node]!.token({ sub, ...claims }));

  beforeAll(async () => {
    cluster = await startCluster(2, { TOOLS_REQUIRE_APPROVAL: "calculator" });
  });
  afterAll(() => cluster?.stop());

  test("a publication on one node reaches subscribers on every node, seq shared", async () => {
    const onA = await connect(0, "ann");
    const onB = await connect(1, "ann");
    const publisher = await connect(1, "ann");
    await onA.subscribe("user:ann:news");
    await onB.subscribe("user:ann:news");
    const ack = await publisher.publish("user:ann:news", { hello: "cluster" });
    expect(ack.payload.seq).toBe(1);
    for (const client of [onA, onB]) {
      expect(await client.next((frame) => frame.channel === "user:ann:news")).toEqual({ channel: "user:ann:news", seq: 1, payload: { hello: "cluster" } });
    }
    for (const client of [onA, onB, publisher]) client.close();
  });

  test("a thread changed over REST on one node notifies the user's socket on the other (docs/protocol.md section 6.5)", async () => {
    const onB = await connect(1, "nina");
    await onB.subscribe("user:nina:notifications");
    const headers = { authorization: `Bearer ${await cluster.nodes[0]!.token({ sub: "nina" })}`, "content-type": "application/json" };
    const created = await (await fetch(`${cluster.nodes[0]!.httpUrl}/threads`, { method: "POST", headers, body: "{}" })).json();
    cluster.fake.enqueue(textResponse("Noted."));
    const started = await (await fetch(`${cluster.nodes[0]!.httpUrl}/threads/${created.id}/messages`, { method: "POST", headers, body: JSON.stringify({ content: "note this" }) })).json();
    const notices = [];
    for (let count = 0; count < 3; count++) notices.push((await onB.next((frame) => frame.channel === "user:nina:notifications")).payload);
    expect(notices).toEqual([
      { type: "thread_created", thread_id: created.id },
      { type: "run_started", thread_id: created.id, message_id: started.message_id },
      { type: "run_finished", thread_id: created.id, message_id: started.message_id },
    ]);
    onB.close();
  });

  test("publishers on different nodes, interleaved, share one gapless seq", async () => {
    const reader = await connect(0, "ann");
    await reader.subscribe("user:ann:both");
    const writers = [await connect(0, "ann"), await connect(1, "ann")];
    const acks = await Promise.all(
      Array.from({ length: 60 }, (_, i) => writers[i % 2]!.publish("user:ann:both", { i })),
    );
    expect(acks.map((ack) => ack.payload.seq).sort((a, b) => a - b)).toEqual(Array.from({ length: 60 }, (_, i) => i + 1));
    await reader.next((frame) => frame.channel === "user:ann:both" && frame.seq === 60);
    const received = [...reader.drain((frame) => frame.channel === "user:ann:both")];
    expect(received.map((frame) => frame.seq)).toEqual(Array.from({ length: 59 }, (_, i) => i + 1));
    for (const client of [reader, ...writers]) client.close();
  });

  test("a client resumes on another node with since/epoch: nothing lost, nothing doubled", async () => {
    const first = await connect(0, "ann");
    const ack = await first.subscribe("user:ann:resume");
    const publisher = await connect(1, "ann");
    await publisher.publish("user:ann:resume", { n: 1 });
    await first.next((frame) => frame.seq === 1);
    first.close();
    await first.closed;
    // Publications keep coming while the client moves to node B.
    let published = 1;
    const publishing = (async () => {
      for (let n = 2; n <= 30; n++) {
        await publisher.publish("user:ann:resume", { n });
        published = n;
      }
    })();
    await waitFor(() => published >= 2, "a publication while the client is away");
    const moved = await connect(1, "ann");
    const resumed = await moved.subscribe("user:ann:resume", { since: 1, epoch: ack.payload.epoch });
    expect(resumed.payload).toMatchObject({ recovered: true, epoch: ack.payload.epoch });
    await publishing;
    await moved.next((frame) => frame.channel === "user:ann:resume" && frame.seq === 30);
    const seen = moved.drain((frame) => frame.channel === "user:ann:resume").map((frame) => frame.seq);
    expect([...seen, 30]).toEqual(Array.from({ length: 29 }, (_, i) => i + 2));
    moved.close();
    publisher.close();
  });

  describe("runs", () => {
    const slow = () => textResponse("slow ".repeat(300), { chunkSize: 5, delayMs: 10 });

    test("stop sent to the other node reaches the run; it ends cancelled", async () => {
      cluster.fake.enqueue(slow());
      const onA = await connect(0, "bob");
      const ack = await send(onA, "talk on A");
      await onA.next((frame) => frame.payload.message_id === ack.message_id && frame.payload.type === "response");
      const onB = await connect(1, "bob");
      expect((await onB.request("chat", { action: "stop", message_id: ack.message_id })).payload).toMatchObject({ status: "stopping" });
      const events = await collectRun(onA, ack.message_id);
      expect(events.at(-1)!.payload).toMatchObject({ status: "cancelled", final_message: true });
      await waitFor(() => cluster.fake.requests.at(-1)!.aborted, "the model request to be aborted");
      const stranger = await connect(1, "eve");
      expect((await stranger.request("chat", { action: "stop", message_id: ack.message_id })).payload.code).toBe("not_found");
      for (const client of [onA, onB, stranger]) client.close();
    });

    test("another user's run is forbidden from any node", async () => {
      cluster.fake.enqueue(slow());
      const owner = await connect(0, "bob");
      const ack = await send(owner, "mine");
      await owner.next((frame) => frame.payload.message_id === ack.message_id && frame.payload.type === "response");
      const stranger = await connect(1, "eve");
      expect((await stranger.request("chat", { action: "stop", message_id: ack.message_id })).payload.code).toBe("forbidden");
      await owner.request("chat", { action: "stop", message_id: ack.message_id });
      await collectRun(owner, ack.message_id);
      owner.close();
      stranger.close();
    });

    test("approve from the other node; the run goes on on its own node", async () => {
      cluster.fake.enqueue(toolCallResponse([{ id: "c1", name: "calculator", arguments: { expression: "7*6" } }]), textResponse("42"));
      const onA = await connect(0, "cid");
      const ack = await send(onA, "7*6?");
      await onA.next((frame) => frame.payload.message_id === ack.message_id && frame.payload.status === "awaiting_approval");
      const onB = await connect(1, "cid");
      expect((await onB.request("chat", { action: "approve", message_id: ack.message_id, call_id: "nope" })).payload.code).toBe("not_found");
      expect((await onB.request("chat", { action: "approve", message_id: ack.message_id, call_id: "c1" })).payload).toMatchObject({ status: "approved" });
      const events = await collectRun(onA, ack.message_id);
      expect(shape(events).slice(0, 3)).toEqual(["status/started", "tool/processing", "tool/done"]);
      expect(events.at(-1)!.payload).toMatchObject({ status: "completed", message: "42" });
      onA.close();
      onB.close();
    });

    test("one active run per thread across nodes: a send on the other node is a conflict", async () => {
      cluster.fake.enqueue(slow());
      const onA = await connect(0, "dan");
      const ack = await send(onA, "first");
      const onB = await connect(1, "dan");
      const conflict = await onB.request("chat", { action: "send", thread_id: ack.thread_id, content: "second" });
      expect(conflict.payload.code).toBe("conflict");
      await onA.next((frame) => frame.payload.message_id === ack.message_id && frame.payload.type === "response");
      await onB.request("chat", { action: "stop", message_id: ack.message_id });
      await collectRun(onA, ack.message_id);
      // Once it ended, the other node may start the next run at once.
      cluster.fake.enqueue(textResponse("second answer"));
      const next = await send(onB, "second", { thread_id: ack.thread_id });
      expect((await collectRun(onB, next.message_id)).at(-1)!.payload.message).toBe("second answer");
      onA.close();
      onB.close();
    });

    test("a watcher on the other node sees the whole run; REST on either node reads it", async () => {
      cluster.fake.enqueue(textResponse("seen from afar", { chunkSize: 2, delayMs: 5 }));
      const onA = await connect(0, "eva");
      const ack = await send(onA, "watch me");
      const watcher = await connect(1, "eva");
      const subscribed = await watcher.subscribe(ack.channel, { since: 0, epoch: (await watcher.subscribe(ack.channel)).payload.epoch });
      expect(subscribed.payload.recovered).toBe(true);
      const events = await collectRun(watcher, ack.message_id);
      expect(deltas(events, "response")).toBe("seen from afar");
      const token = await cluster.nodes[1]!.token({ sub: "eva" });
      await waitFor(async () => {
        const response = await fetch(`${cluster.nodes[1]!.httpUrl}/threads/${ack.thread_id}/messages`, { headers: { authorization: `Bearer ${token}` } });
        const { messages } = await response.json();
        return messages.at(-1)?.status === "completed";
      }, "the answer stored");
      onA.close();
      watcher.close();
    });
  });
});

describe.skipIf(skip)("a node killed mid-run", () => {
  let cluster: Cluster;
  beforeAll(async () => {
    cluster = await startCluster(1, { LEASE_TTL_S: "1" });
  });
  afterAll(() => cluster?.stop());

  test("a surviving node marks its run interrupted with the partial text and tells the watchers", async () => {
    // The doomed node is a real process so it can be killed with SIGKILL, mid-stream.
    const doomed = await spawnServer(["bun", "run", join(ROOT, "src/index.ts")], {
      cwd: ROOT,
      env: { ...cluster.env, JWT_SECRET: TEST_SECRET, DATA_DIR: join(cluster.nodes[0]!.dataDir, "doomed"), LOG_LEVEL: "info" },
    });
    try {
      cluster.fake.enqueue(textResponse("partial ".repeat(500), { chunkSize: 8, delayMs: 10 }));
      const client: TestClient = await connectAs(`ws://localhost:${doomed.port}/ws`, await cluster.nodes[0]!.token({ sub: "kim" }));
      const ack = await send(client, "stream and die");
      const watcher = await connectAs(cluster.nodes[0]!.wsUrl, await cluster.nodes[0]!.token({ sub: "kim" }));
      await watcher.subscribe(ack.channel);
      await watcher.next((frame: Frame) => frame.payload.message_id === ack.message_id && frame.payload.type === "response");
      // Let a checkpoint land, then kill the node without any chance to clean up.
      const storage = cluster.nodes[0]!.app.storage;
      await waitFor(async () => ((await storage.getMessage(ack.message_id))?.content ?? "").length > 0, "a checkpoint of the partial answer");
      doomed.process.kill("SIGKILL");
      await doomed.exited;
      const final = await watcher.next((frame) => frame.payload.message_id === ack.message_id && frame.payload.final_message === true, 10_000);
      expect(final.payload).toMatchObject({ type: "error", status: "error", error_details: { kind: "node_lost" } });
      const stored = await storage.getMessage(ack.message_id);
      expect(stored!.status).toBe("interrupted");
      expect(stored!.content).toStartWith("partial ");
      // The thread is free again.
      cluster.fake.enqueue(textResponse("back"));
      const next = await send(watcher, "again", { thread_id: ack.thread_id });
      expect((await collectRun(watcher, next.message_id)).at(-1)!.payload.message).toBe("back");
      watcher.close();
    } finally {
      doomed.process.kill("SIGKILL");
    }
  }, 30_000);
});
