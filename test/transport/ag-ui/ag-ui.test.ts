// POST /ag-ui as AG-UI's own HttpAgent calls it (docs/protocol.md section 12): every event passes the
// package's schemas and its event-order verification; a cut stream resumes with Last-Event-ID on
// GET /ag-ui/threads/:id/events; the refusals.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { BaseEvent } from "@ag-ui/client";
import { textResponse, toolCallResponse } from "../../helpers/fake-openai.ts";
import { startAgentHarness, type AgentHarness } from "../../helpers/runs.ts";
import { waitFor } from "../../helpers/wait.ts";
import { agUiAgent, bearer, runTurn, storedMessages, textOf, turnCutAtApproval, typesOf, verified, wireEvents } from "./ag-ui-kit.ts";

describe("POST /ag-ui with HttpAgent", () => {
  let harness: AgentHarness;
  let baseUrl: string;
  let token: string;
  beforeAll(async () => {
    harness = await startAgentHarness();
    baseUrl = harness.server.httpUrl;
    token = await harness.server.token({ sub: "alice" });
  });
  afterAll(() => harness.stop());

  test("a turn with the calculator, then a plain answer on the same thread: valid, verified events that match what is stored", async () => {
    const threadId = crypto.randomUUID();
    const { agent, bodies } = agUiAgent(baseUrl, token, threadId);
    harness.fake.enqueue(
      toolCallResponse([{ id: "call_mul", name: "calculator", arguments: { expression: "6*7" } }], { text: "Let me compute. " }),
      textResponse("It is 42.", { chunkSize: 3 }),
    );
    const first = runTurn(agent, "What is 6*7?");
    await first.done;
    const stored = await storedMessages(baseUrl, token, threadId);
    expect(stored.map((message) => [message.role, message.status])).toEqual([
      ["user", "completed"],
      ["assistant", "completed"],
    ]);
    const runId = stored[1]!.id;
    expect(typesOf(first.events)).toEqual([
      "RUN_STARTED",
      "TEXT_MESSAGE_START",
      "TEXT_MESSAGE_CONTENT",
      "TEXT_MESSAGE_END",
      "TOOL_CALL_START",
      "TOOL_CALL_ARGS",
      "TOOL_CALL_END",
      "TOOL_CALL_RESULT",
      "TEXT_MESSAGE_START",
      ...first.events.filter((event) => String(event.type) === "TEXT_MESSAGE_CONTENT").slice(1).map(() => "TEXT_MESSAGE_CONTENT"),
      "TEXT_MESSAGE_END",
      "RUN_FINISHED",
    ]);
    expect(first.events[0]).toMatchObject({ threadId, runId });
    expect(first.events.find((event) => String(event.type) === "TOOL_CALL_START")).toMatchObject({ toolCallId: "call_mul", toolCallName: "calculator" });
    expect(first.events.find((event) => String(event.type) === "TOOL_CALL_ARGS")).toMatchObject({ delta: '{"expression":"6*7"}' });
    expect(first.events.find((event) => String(event.type) === "TOOL_CALL_RESULT")).toMatchObject({ toolCallId: "call_mul", content: "42" });
    expect(first.events.at(-1)).toMatchObject({ type: "RUN_FINISHED", threadId, runId, outcome: { type: "success" } });
    expect(textOf(first.events)).toBe(stored[1]!.content);
    expect(textOf(first.events)).toBe("Let me compute. It is 42.");
    // The agent's own state: the text, the tool call and its result.
    expect(agent.messages.some((message) => message.role === "tool" && message.content === "42")).toBe(true);

    // The wire: every event passes the package's schemas, carries its run event's id, and verifies.
    const wire = wireEvents(await bodies[0]!);
    expect(wire.map(({ event }) => String(event.type))).toEqual(typesOf(first.events));
    await verified(wire.map(({ event }) => event));

    // A plain answer on the same thread: the agent posts its whole history; only the last message is new.
    harness.fake.enqueue(textResponse("Anything else?"));
    const second = runTurn(agent, "Thanks");
    await second.done;
    expect(typesOf(second.events)).toEqual(["RUN_STARTED", "TEXT_MESSAGE_START", "TEXT_MESSAGE_CONTENT", "TEXT_MESSAGE_END", "RUN_FINISHED"]);
    expect(textOf(second.events)).toBe("Anything else?");
    const after = await storedMessages(baseUrl, token, threadId);
    expect(after.map((message) => message.content)).toEqual(["What is 6*7?", "Let me compute. It is 42.", "Thanks", "Anything else?"]);
    await verified(wireEvents(await bodies[1]!).map(({ event }) => event));
  });

  test("refusals: no token 401, not a RunAgentInput 400, another user's thread 404; nothing is stored", async () => {
    const threadId = crypto.randomUUID();
    const input = { threadId, runId: "r1", messages: [{ id: "m1", role: "user", content: "Hello" }], tools: [], context: [], state: {}, forwardedProps: {} };
    const post = async (body: unknown, headers: Record<string, string> = bearer(token)) => {
      const response = await fetch(`${baseUrl}/ag-ui`, { method: "POST", headers: { "content-type": "application/json", ...headers }, body: JSON.stringify(body) });
      return { status: response.status, body: (await response.json()) as Record<string, unknown> };
    };
    expect(await post(input, {})).toMatchObject({ status: 401, body: { code: "unauthorized" } });
    expect(await post({ threadId, content: "hello" })).toMatchObject({ status: 400, body: { code: "invalid_message", details: expect.arrayContaining(["/messages"]) } });
    expect(await post({ ...input, messages: [] })).toMatchObject({ status: 400, body: { code: "invalid_message" } });
    expect(await post({ ...input, messages: [{ id: "a", role: "assistant", content: "Hi" }] })).toMatchObject({
      status: 400,
      body: { code: "invalid_message", message: "the last message must be the user's or a tool result" },
    });
    // Front-end tools: a server tool's name, a name twice, a bad name, too many; a result nothing waits for.
    const alert = { name: "browser_alert", description: "Shows an alert", parameters: { type: "object", properties: {} } };
    expect(await post({ ...input, tools: [{ ...alert, name: "calculator" }] })).toMatchObject({
      status: 400,
      body: { code: "invalid_message", message: "the tool name calculator is taken by a server tool" },
    });
    expect(await post({ ...input, tools: [alert, alert] })).toMatchObject({ status: 400, body: { code: "invalid_message", message: "the tool name browser_alert is declared twice" } });
    expect(await post({ ...input, tools: [{ ...alert, name: "no spaces" }] })).toMatchObject({ status: 400, body: { code: "invalid_message" } });
    expect(await post({ ...input, tools: Array.from({ length: 33 }, (_, i) => ({ ...alert, name: `tool_${i}` })) })).toMatchObject({ status: 400, body: { code: "invalid_message" } });
    expect(await post({ ...input, messages: [{ id: "t1", role: "tool", toolCallId: "call_x", content: "done" }] })).toMatchObject({
      status: 400,
      body: { code: "invalid_message", message: "no tool call of the thread waits for a result" },
    });
    expect((await fetch(`${baseUrl}/threads/${threadId}/messages`, { headers: bearer(token) })).status).toBe(404);

    // Alice's thread, then bob on it: 404 in the same words as an unknown thread; the agent fails the run.
    const { agent } = agUiAgent(baseUrl, token, threadId);
    harness.fake.enqueue(textResponse("Mine."));
    await runTurn(agent, "My own thread").done;
    const bobToken = await harness.server.token({ sub: "bob" });
    expect(await post(input, bearer(bobToken))).toEqual({ status: 404, body: { code: "not_found", message: `no thread ${threadId}` } });
    const { agent: bobAgent } = agUiAgent(baseUrl, bobToken, threadId);
    await expect(runTurn(bobAgent, "Let me in").done).rejects.toThrow("404");
    expect(await storedMessages(baseUrl, token, threadId)).toHaveLength(2);
    const resume = await fetch(`${baseUrl}/ag-ui/threads/${threadId}/events`, { headers: { ...bearer(bobToken), "last-event-id": "x:1" } });
    expect(resume.status).toBe(404);
    expect((await fetch(`${baseUrl}/ag-ui/threads/${threadId}/events`, { headers: { "last-event-id": "x:1" } })).status).toBe(401);
    await waitFor(() => harness.server.app.gateway.connectionCount === 0, "every stream to be released");
  });
});

describe("front-end tools", () => {
  let harness: AgentHarness;
  let baseUrl: string;
  let token: string;
  beforeAll(async () => {
    harness = await startAgentHarness();
    baseUrl = harness.server.httpUrl;
    token = await harness.server.token({ sub: "dave" });
  });
  afterAll(() => harness.stop());

  const confirmBooking = {
    name: "confirm_booking",
    description: "Asks the user to confirm a hotel booking",
    parameters: { type: "object", properties: { hotel: { type: "string" }, nights: { type: "number" } }, required: ["hotel", "nights"] },
  };

  test("the model calls a server tool, then the client's tool: the run ends on the call; the client's result starts the next run, which the model answers with it", async () => {
    const threadId = crypto.randomUUID();
    const { agent, bodies } = agUiAgent(baseUrl, token, threadId);
    const before = harness.fake.requests.length;
    harness.fake.enqueue(
      toolCallResponse([{ id: "call_nights", name: "calculator", arguments: { expression: "1+1" } }]),
      toolCallResponse([{ id: "call_book", name: "confirm_booking", arguments: { hotel: "Ritz", nights: 2 } }], { text: "Please confirm. " }),
      textResponse("Booked: the Ritz for 2 nights."),
    );
    agent.addMessage({ id: crypto.randomUUID(), role: "user", content: "Book the Ritz for 1+1 nights" });
    const first: BaseEvent[] = [];
    await agent.runAgent({ tools: [confirmBooking] }, { onEvent: ({ event }) => void first.push(event) });
    expect(typesOf(first)).toEqual([
      "RUN_STARTED",
      "TOOL_CALL_START",
      "TOOL_CALL_ARGS",
      "TOOL_CALL_END",
      "TOOL_CALL_RESULT",
      "TEXT_MESSAGE_START",
      ...first.filter((event) => String(event.type) === "TEXT_MESSAGE_CONTENT").map(() => "TEXT_MESSAGE_CONTENT"),
      "TEXT_MESSAGE_END",
      "TOOL_CALL_START",
      "TOOL_CALL_ARGS",
      "TOOL_CALL_END",
      "RUN_FINISHED",
    ]);
    const starts = first.filter((event) => String(event.type) === "TOOL_CALL_START");
    expect(starts[0]).toMatchObject({ toolCallId: "call_nights", toolCallName: "calculator" });
    expect(starts[1]).toMatchObject({ toolCallId: "call_book", toolCallName: "confirm_booking" });
    expect(first.filter((event) => String(event.type) === "TOOL_CALL_ARGS").at(-1)).toMatchObject({ toolCallId: "call_book", delta: '{"hotel":"Ritz","nights":2}' });
    expect(first.at(-1)).toMatchObject({ type: "RUN_FINISHED", outcome: { type: "success" } });
    await verified(wireEvents(await bodies[0]!).map(({ event }) => event));
    // The model was offered the server's tools and the client's, and asked twice (the client's call ends the run).
    expect(harness.fake.requests.length).toBe(before + 2);
    const offered = harness.fake.requests[before]!.body.tools!.map((tool) => (tool as { function: { name: string } }).function.name);
    expect(offered).toEqual(expect.arrayContaining(["calculator", "confirm_booking"]));
    expect(harness.fake.requests[before]!.body.tools).toContainEqual({
      type: "function",
      function: expect.objectContaining({ name: "confirm_booking", description: confirmBooking.description, parameters: confirmBooking.parameters }),
    });
    // Stored as waiting for the client's result.
    const waiting = await storedMessages(baseUrl, token, threadId);
    expect(waiting.map((message) => [message.role, message.status])).toEqual([
      ["user", "completed"],
      ["assistant", "completed"],
    ]);
    expect((waiting[1] as unknown as { tool_calls: unknown[] }).tool_calls).toEqual([
      expect.objectContaining({ call_id: "call_nights", status: "done", result: "2" }),
      expect.objectContaining({ call_id: "call_book", name: "confirm_booking", arguments: { hotel: "Ritz", nights: 2 }, status: "processing" }),
    ]);

    // The client ran its tool: its result is the next run's last message.
    agent.addMessage({ id: crypto.randomUUID(), role: "tool", toolCallId: "call_book", content: "confirmed by the user" });
    const second: BaseEvent[] = [];
    await agent.runAgent({ tools: [confirmBooking] }, { onEvent: ({ event }) => void second.push(event) });
    expect(typesOf(second)).toEqual(["RUN_STARTED", "TEXT_MESSAGE_START", "TEXT_MESSAGE_CONTENT", "TEXT_MESSAGE_END", "RUN_FINISHED"].flatMap((type) =>
      type === "TEXT_MESSAGE_CONTENT" ? second.filter((event) => String(event.type) === type).map(() => type) : [type],
    ));
    expect(textOf(second)).toBe("Booked: the Ritz for 2 nights.");
    await verified(wireEvents(await bodies[1]!).map(({ event }) => event));
    const asked = harness.fake.requests[before + 2]!.body.messages.filter((message) => message.role !== "system");
    expect(asked).toEqual([
      { role: "user", content: "Book the Ritz for 1+1 nights" },
      expect.objectContaining({
        role: "assistant",
        content: "Please confirm. ",
        tool_calls: [
          { id: "call_nights", type: "function", function: { name: "calculator", arguments: '{"expression":"1+1"}' } },
          { id: "call_book", type: "function", function: { name: "confirm_booking", arguments: '{"hotel":"Ritz","nights":2}' } },
        ],
      }),
      { role: "tool", tool_call_id: "call_nights", content: "2" },
      { role: "tool", tool_call_id: "call_book", content: "confirmed by the user" },
    ]);
    const after = await storedMessages(baseUrl, token, threadId);
    expect(after.map((message) => [message.role, message.status, message.content])).toEqual([
      ["user", "completed", "Book the Ritz for 1+1 nights"],
      ["assistant", "completed", "Please confirm. "],
      ["assistant", "completed", "Booked: the Ritz for 2 nights."],
    ]);
    expect((after[1] as unknown as { tool_calls: unknown[] }).tool_calls).toContainEqual(
      expect.objectContaining({ call_id: "call_book", status: "done", result: "confirmed by the user" }),
    );
    // The result was taken: sending it again is refused.
    const again = await fetch(`${baseUrl}/ag-ui`, {
      method: "POST",
      headers: { "content-type": "application/json", ...bearer(token) },
      body: JSON.stringify({ threadId, runId: "r3", messages: [{ id: "t", role: "tool", toolCallId: "call_book", content: "again" }], tools: [], context: [] }),
    });
    expect(again.status).toBe(400);
    await waitFor(() => harness.server.app.gateway.connectionCount === 0, "every stream to be released");
  });
});

describe("a cut AG-UI stream resumed with Last-Event-ID", () => {
  let harness: AgentHarness;
  let baseUrl: string;
  let token: string;
  beforeAll(async () => {
    harness = await startAgentHarness({ TOOLS_REQUIRE_APPROVAL: "calculator" });
    baseUrl = harness.server.httpUrl;
    token = await harness.server.token({ sub: "carol" });
  });
  afterAll(() => harness.stop());

  test("cut while a tool waits for approval: the resumed stream goes on where it stopped, and both together are the whole run exactly once", async () => {
    const threadId = crypto.randomUUID();
    const { agent, bodies } = agUiAgent(baseUrl, token, threadId);
    const { cut, approval, runId } = await turnCutAtApproval(agent, bodies, harness.fake);
    expect(approval.event).toMatchObject({
      type: "CUSTOM",
      name: "agentwire.approval_requested",
      value: { message_id: runId, call_id: "call_mul", name: "calculator", arguments: { expression: "6*7" } },
    });
    await waitFor(() => harness.server.app.gateway.connectionCount === 0, "the cut stream to be released");

    const resumed = await fetch(`${baseUrl}/ag-ui/threads/${threadId}/events`, { headers: { ...bearer(token), "last-event-id": approval.id } });
    expect(resumed.status).toBe(200);
    expect(resumed.headers.get("content-type")).toStartWith("text/event-stream");
    const rest = resumed.text();
    const approve = await fetch(`${baseUrl}/threads/${threadId}/approve`, {
      method: "POST",
      headers: { ...bearer(token), "content-type": "application/json" },
      body: JSON.stringify({ message_id: runId, call_id: "call_mul" }),
    });
    expect(approve.status).toBe(200);
    const after = wireEvents(await rest);
    expect(String(after[0]!.event.type)).toBe("TOOL_CALL_RESULT");
    expect(after.at(-1)!.event).toMatchObject({ type: "RUN_FINISHED", runId, outcome: { type: "success" } });
    const whole = [...cut, ...after].map(({ event }) => event);
    await verified(whole);
    expect(whole.filter((event) => String(event.type) === "RUN_STARTED")).toHaveLength(1);
    expect(whole.filter((event) => String(event.type) === "TOOL_CALL_START")).toHaveLength(1);
    expect(textOf(whole)).toBe("Let me compute. It is 42.");
    expect((await storedMessages(baseUrl, token, threadId))[1]).toMatchObject({ id: runId, status: "completed", content: textOf(whole) });
  });

  test("cut in the middle of the text, after reasoning; a stop ends the resumed stream with RUN_FINISHED, outcome cancelled", async () => {
    const threadId = crypto.randomUUID();
    const { agent, bodies } = agUiAgent(baseUrl, token, threadId);
    harness.fake.enqueue(textResponse("A long answer that stalls here", { reasoning: "Thinking it over.", chunkSize: 6, delayMs: 10, ending: "stall" }));
    const first = runTurn(agent, "Talk");
    await waitFor(() => textOf(first.events) === "A long answer that stalls here", "the streamed text");
    agent.abortRun();
    await first.done;
    const cut = wireEvents(await bodies[0]!);
    expect(cut.slice(0, 3).map(({ event }) => String(event.type))).toEqual(["RUN_STARTED", "REASONING_START", "REASONING_MESSAGE_START"]);
    // Resume after the first text delta: the rest of the text comes once, in the message already open.
    const seqOf = (id: string) => Number(id.slice(id.lastIndexOf(":") + 1));
    const position = cut.find(({ event }) => String(event.type) === "TEXT_MESSAGE_CONTENT")!.id;
    const resumed = await fetch(`${baseUrl}/ag-ui/threads/${threadId}/events`, { headers: { ...bearer(token), "last-event-id": position } });
    expect(resumed.status).toBe(200);
    const rest = resumed.text();
    expect((await fetch(`${baseUrl}/threads/${threadId}/stop`, { method: "POST", headers: bearer(token) })).status).toBe(202);
    const after = wireEvents(await rest);
    expect(after.at(-1)!.event).toMatchObject({ type: "RUN_FINISHED", outcome: { type: "cancelled" } });
    expect(after.map(({ event }) => String(event.type))).not.toContain("TEXT_MESSAGE_START");
    const whole = [...cut.filter(({ id }) => seqOf(id) <= seqOf(position)), ...after].map(({ event }) => event);
    await verified(whole);
    expect(textOf(whole)).toBe("A long answer that stalls here");
    expect((await storedMessages(baseUrl, token, threadId))[1]).toMatchObject({ status: "cancelled", content: "A long answer that stalls here" });
  });
});
