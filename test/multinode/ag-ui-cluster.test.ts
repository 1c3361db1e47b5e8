// AG-UI (docs/protocol.md section 12) on a two-node Redis/PostgreSQL cluster: HttpAgent runs on
// node A, its stream is cut mid-run, and GET /ag-ui/threads/:id/events on node B resumes it with
// Last-Event-ID; the cut stream's events and the resumed ones are the whole run exactly once. A front-end
// tool called on node A has its result answered through node B.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { startCluster, type Cluster } from "../helpers/cluster.ts";
import { textResponse, toolCallResponse } from "../helpers/fake-openai.ts";
import { explainSkip } from "../helpers/services.ts";
import { SseClient, positionOf } from "../helpers/sse-client.ts";
import { waitFor } from "../helpers/wait.ts";
import type { BaseEvent } from "@ag-ui/client";
import { agUiAgent, bearer, checkedEvents, countOf, runTurn, storedMessages, textOf, turnCutAtApproval, typesOf, verified, wireEvents } from "../transport/ag-ui/ag-ui-kit.ts";

const skip = explainSkip("the AG-UI cluster tests", ["redis", "postgres"]);

describe.skipIf(skip)("AG-UI across two nodes", () => {
  let cluster: Cluster;
  let nodeA: string;
  let nodeB: string;
  let token: string;
  const activeRuns = () => cluster.nodes.map((node) => node.app.agent.activeRuns);
  const resumeOnB = (threadId: string, lastEventId: string) =>
    SseClient.open(`${nodeB}/ag-ui/threads/${threadId}/events`, { headers: bearer(token), lastEventId });

  beforeAll(async () => {
    cluster = await startCluster(2, { TOOLS_REQUIRE_APPROVAL: "calculator" });
    nodeA = cluster.nodes[0]!.httpUrl;
    nodeB = cluster.nodes[1]!.httpUrl;
    token = await cluster.nodes[0]!.token({ sub: "carol" });
  });
  afterAll(() => cluster?.stop());

  test("cut in the middle of the text on node A, resumed on node B while node A still streams: the text once, verified, stopped from node B", async () => {
    const text = "A long answer that node A streams while the reader moves over to node B.";
    const threadId = crypto.randomUUID();
    const { agent, bodies } = agUiAgent(nodeA, token, threadId);
    cluster.fake.enqueue(textResponse(text, { reasoning: "Thinking it over.", chunkSize: 4, delayMs: 5, ending: "stall" }));
    const first = runTurn(agent, "Talk");
    await waitFor(() => textOf(first.events).length > 0, "the first text on node A");
    agent.abortRun();
    await first.done;
    const cut = wireEvents(await bodies[0]!);
    expect(String(cut[0]!.event.type)).toBe("RUN_STARTED");
    expect(activeRuns()).toEqual([1, 0]);

    // Resume after the first text delta the cut stream carried.
    const position = cut.find(({ event }) => String(event.type) === "TEXT_MESSAGE_CONTENT")!.id;
    const kept = cut.filter(({ id }) => positionOf(id).seq <= positionOf(position).seq).map(({ event }) => event);
    const resumed = await resumeOnB(threadId, position);
    const rest = () => checkedEvents(resumed.events()).map(({ event }) => event);
    await waitFor(() => textOf([...kept, ...rest()]) === text, "the rest of the text on node B");
    expect(activeRuns()).toEqual([1, 0]);

    expect((await fetch(`${nodeB}/threads/${threadId}/stop`, { method: "POST", headers: bearer(token) })).status).toBe(202);
    expect(await resumed.ended).toEqual({ kind: "done" });
    const after = rest();
    expect(after.at(-1)).toMatchObject({ type: "RUN_FINISHED", outcome: { type: "cancelled" } });
    expect(typesOf(after)).not.toContain("RUN_STARTED");
    expect(typesOf(after)).not.toContain("TEXT_MESSAGE_START");
    const whole = [...kept, ...after];
    await verified(whole);
    expect(countOf(whole, "RUN_STARTED")).toBe(1);
    expect(countOf(whole, "TEXT_MESSAGE_START")).toBe(1);
    expect(textOf(whole)).toBe(text);
    expect((await storedMessages(nodeB, token, threadId))[1]).toMatchObject({ status: "cancelled", content: text });
    await waitFor(() => activeRuns().every((runs) => runs === 0), "every node to release its runs");
  });

  test("cut at the approval request on node A, resumed on node B and approved there: the run completes on node A, every event once, verified", async () => {
    const threadId = crypto.randomUUID();
    const { agent, bodies } = agUiAgent(nodeA, token, threadId);
    const { cut, approval, runId } = await turnCutAtApproval(agent, bodies, cluster.fake);
    expect(approval.event).toMatchObject({ type: "CUSTOM", name: "agentwire.approval_requested", value: { message_id: runId, call_id: "call_mul" } });
    expect(activeRuns()).toEqual([1, 0]);

    const resumed = await resumeOnB(threadId, approval.id);
    const approve = await fetch(`${nodeB}/threads/${threadId}/approve`, {
      method: "POST",
      headers: { ...bearer(token), "content-type": "application/json" },
      body: JSON.stringify({ message_id: runId, call_id: "call_mul" }),
    });
    expect(approve.status).toBe(200);
    expect(await resumed.ended).toEqual({ kind: "done" });
    const after = checkedEvents(resumed.events()).map(({ event }) => event);
    expect(String(after[0]!.type)).toBe("TOOL_CALL_RESULT");
    expect(after[0]).toMatchObject({ toolCallId: "call_mul", content: "42" });
    expect(after.at(-1)).toMatchObject({ type: "RUN_FINISHED", runId, outcome: { type: "success" } });
    const whole = [...cut.map(({ event }) => event), ...after];
    await verified(whole);
    expect(countOf(whole, "RUN_STARTED")).toBe(1);
    expect(countOf(whole, "TOOL_CALL_START")).toBe(1);
    expect(countOf(whole, "TOOL_CALL_RESULT")).toBe(1);
    expect(textOf(whole)).toBe("Let me compute. It is 42.");
    expect((await storedMessages(nodeA, token, threadId))[1]).toMatchObject({ id: runId, status: "completed", content: textOf(whole) });
    await waitFor(() => activeRuns().every((runs) => runs === 0), "every node to release its runs");
  });

  test("a front-end tool called in a run on node A; the client's result sent to node B starts the next run, which the model answers with it", async () => {
    const threadId = crypto.randomUUID();
    const { agent, bodies } = agUiAgent(nodeA, token, threadId);
    const confirm = { name: "confirm_order", description: "Asks the user to confirm an order", parameters: { type: "object", properties: { item: { type: "string" } }, required: ["item"] } };
    const before = cluster.fake.requests.length;
    cluster.fake.enqueue(
      toolCallResponse([{ id: "call_confirm", name: "confirm_order", arguments: { item: "tea" } }], { text: "Please confirm. " }),
      textResponse("Ordered: tea."),
    );
    agent.addMessage({ id: crypto.randomUUID(), role: "user", content: "Order tea" });
    const first: BaseEvent[] = [];
    await agent.runAgent({ tools: [confirm] }, { onEvent: ({ event }) => void first.push(event) });
    expect(first.filter((event) => String(event.type) === "TOOL_CALL_START")).toEqual([expect.objectContaining({ toolCallId: "call_confirm", toolCallName: "confirm_order" })]);
    expect(first.at(-1)).toMatchObject({ type: "RUN_FINISHED" });

    agent.url = `${nodeB}/ag-ui`;
    agent.addMessage({ id: crypto.randomUUID(), role: "tool", toolCallId: "call_confirm", content: "confirmed" });
    const second: BaseEvent[] = [];
    await agent.runAgent({ tools: [confirm] }, { onEvent: ({ event }) => void second.push(event) });
    expect(textOf(second)).toBe("Ordered: tea.");
    expect(second.at(-1)).toMatchObject({ type: "RUN_FINISHED" });
    for (const body of bodies) await verified(wireEvents(await body).map(({ event }) => event));
    // The second model request, made by node B's run, carries the client's result for the call.
    expect(cluster.fake.requests.length).toBe(before + 2);
    const asked = cluster.fake.requests[before + 1]!.body.messages;
    expect(asked.find((message) => message.role === "tool")).toMatchObject({ tool_call_id: "call_confirm", content: "confirmed" });
    expect(activeRuns()).toEqual([0, 0]);
    const stored = await storedMessages(nodeA, token, threadId);
    expect(stored.map((message) => [message.role, message.status])).toEqual([
      ["user", "completed"],
      ["assistant", "completed"],
      ["assistant", "completed"],
    ]);
  });
});
