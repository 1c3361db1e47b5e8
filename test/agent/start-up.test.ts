// What a node does at start with the runs storage holds unfinished: a node alone interrupts them (see
// test/http/thread-routes.test.ts); a node starting beside others leaves theirs running.

import { describe, expect, test } from "bun:test";
import { startCluster } from "../helpers/cluster.ts";
import { textResponse, toolCallResponse } from "../helpers/fake-openai.ts";
import { collectRun, send } from "../helpers/runs.ts";
import { explainSkip } from "../helpers/services.ts";
import { connectAs } from "../helpers/ws-client.ts";

const skip = explainSkip("the start-up test with several nodes", ["redis", "postgres"]);

describe.skipIf(skip)("several nodes", () => {
  test("a node starting beside a running one leaves its run alone, and can approve it", async () => {
    const cluster = await startCluster(1, { TOOLS_REQUIRE_APPROVAL: "calculator" });
    try {
      const [first] = cluster.nodes;
      cluster.fake.enqueue(toolCallResponse([{ id: "calc1", name: "calculator", arguments: { expression: "1+1" } }]), textResponse("2"));
      const client = await connectAs(first!.wsUrl, await first!.token({ sub: "nora" }));
      const ack = await send(client, "1+1?");
      // Waiting for approval, the run stays unfinished for as long as the test needs.
      await client.next((frame) => frame.payload.message_id === ack.message_id && frame.payload.status === "awaiting_approval");
      const second = await cluster.addNode();
      expect(await first!.app.storage.getMessage(ack.message_id)).toMatchObject({ status: "awaiting_approval" });
      const elsewhere = await connectAs(second.wsUrl, await second.token({ sub: "nora" }));
      const approved = await elsewhere.request("chat", { action: "approve", message_id: ack.message_id, call_id: "calc1" });
      expect(approved.payload).toMatchObject({ status: "approved" });
      expect((await collectRun(client, ack.message_id)).at(-1)!.payload).toMatchObject({ type: "response", status: "completed", message: "2" });
      client.close();
      elsewhere.close();
    } finally {
      await cluster.stop();
    }
  });
});
