// MAX_RUNS_PER_USER holds for a user's runs on every node together, counted in the shared database
// (docs/protocol.md section 6.1).

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { textResponse } from "../helpers/fake-openai.ts";
import { startCluster, type Cluster } from "../helpers/cluster.ts";
import { collectRun, send } from "../helpers/runs.ts";
import { explainSkip } from "../helpers/services.ts";
import { connectAs, type TestClient } from "../helpers/ws-client.ts";

const skip = explainSkip("the multi-node run limit tests", ["redis", "postgres"]);
const refusal = { code: "rate_limited", message: "at most 2 concurrent runs per user" };

describe.skipIf(skip)("MAX_RUNS_PER_USER on two nodes", () => {
  let cluster: Cluster;
  const connect = async (node: number, sub: string) => connectAs(cluster.nodes[node]!.wsUrl, await cluster.nodes[node]!.token({ sub }));

  beforeAll(async () => {
    cluster = await startCluster(2, { MAX_RUNS_PER_USER: "2" });
  });
  afterAll(() => cluster?.stop());

  /** Starts a run that the fake model holds open after its first words, once it streams. */
  async function startHeldRun(client: TestClient, content: string) {
    cluster.fake.enqueue(textResponse("held open", { ending: "stall" }));
    const ack = await send(client, content);
    await client.next((frame) => frame.payload.message_id === ack.message_id && frame.payload.type === "response");
    return ack;
  }

  /** Stops a run from `client` and waits for its final event on `watcher`. */
  async function stopRun(client: TestClient, watcher: TestClient, messageId: string) {
    expect((await client.request("chat", { action: "stop", message_id: messageId })).payload).toMatchObject({ status: "stopping" });
    return (await collectRun(watcher, messageId)).at(-1)!.payload;
  }

  test("a user's runs on both nodes count together; another user's do not", async () => {
    const onA = await connect(0, "uma");
    const onB = await connect(1, "uma");
    const first = await startHeldRun(onA, "one");
    const second = await startHeldRun(onB, "two");

    for (const client of [onA, onB]) {
      expect((await client.request("chat", { action: "send", content: "three" })).payload).toMatchObject(refusal);
    }
    for (const node of cluster.nodes) {
      const headers = { authorization: `Bearer ${await node.token({ sub: "uma" })}`, "content-type": "application/json" };
      const thread = await (await fetch(`${node.httpUrl}/threads`, { method: "POST", headers, body: "{}" })).json();
      const response = await fetch(`${node.httpUrl}/threads/${thread.id}/messages`, { method: "POST", headers, body: JSON.stringify({ content: "three" }) });
      expect(response.status).toBe(429);
      expect(await response.json()).toMatchObject(refusal);
      // Refused, nothing of the send was stored.
      expect(await cluster.nodes[0]!.app.storage.listMessages(thread.id)).toEqual([]);
    }

    const other = await connect(1, "vic");
    cluster.fake.enqueue(textResponse("hello vic"));
    const theirs = await send(other, "hi");
    expect((await collectRun(other, theirs.message_id)).at(-1)!.payload).toMatchObject({ status: "completed", message: "hello vic" });

    // Once one of uma's runs ended, the next is accepted, on the other node as well.
    expect(await stopRun(onB, onA, first.message_id)).toMatchObject({ status: "cancelled", final_message: true });
    const third = await startHeldRun(onB, "three, now");
    expect((await onA.request("chat", { action: "send", content: "four" })).payload).toMatchObject(refusal);

    await stopRun(onA, onB, second.message_id);
    await stopRun(onA, onB, third.message_id);
    for (const client of [onA, onB, other]) client.close();
  });
});
