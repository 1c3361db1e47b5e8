// GET /ai-sdk/chat/:id/stream as DefaultChatTransport.reconnectToStream calls it (docs/protocol.md
// section 11): the active run from its start, then live, each part exactly once; null (204) when idle.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { isToolUIPart, type UIMessage, type UIMessageChunk } from "ai";
import { textResponse, toolCallResponse } from "../../helpers/fake-openai.ts";
import { startAgentHarness, type AgentHarness } from "../../helpers/runs.ts";
import { waitFor } from "../../helpers/wait.ts";
import { bearer, chatTransport, expectSameAsStored, expectWellFormedStream, follow, rawWsRequest, sendText, sendWsText, storedMessages, textOf, typesOf, wsTransport } from "./ai-sdk-kit.ts";

const messageIdOf = (chunks: UIMessageChunk[]) => (chunks.find((chunk) => chunk.type === "start") as { messageId: string }).messageId;

const awaitsApproval = (message: UIMessage | undefined) => message?.parts.some((part) => isToolUIPart(part) && part.state === "approval-requested") === true;

describe("a run picked up from its stored state (tool approval, checkpointed)", () => {
  let harness: AgentHarness;
  let baseUrl: string;
  let token: string;
  beforeAll(async () => {
    harness = await startAgentHarness({ TOOLS_REQUIRE_APPROVAL: "calculator" });
    baseUrl = harness.server.httpUrl;
    token = await harness.server.token({ sub: "alice" });
  });
  afterAll(() => harness.stop());

  test("a reload while a tool waits for approval shows the whole answer once and pauses at the request; after the approval a reload streams the rest", async () => {
    const { transport, responses } = chatTransport(baseUrl, token);
    const chatId = crypto.randomUUID();
    harness.fake.enqueue(
      toolCallResponse([{ id: "call_mul", name: "calculator", arguments: { expression: "6*7" } }], { text: "Let me compute. " }),
      // Still running when the last reload comes.
      textResponse("It is 42.", { ending: "stall" }),
    );
    const first = follow(await sendText(transport, chatId, "What is 6*7?"));
    // The stream ends where the run waits for the reader's answer, as the AI SDK's own server does.
    await first.ended;
    expect(awaitsApproval(first.message)).toBe(true);
    expect(first.chunks.at(-1)).toEqual({ type: "finish", finishReason: "tool-calls" });
    await waitFor(() => harness.server.app.gateway.connectionCount === 0, "the first stream to be released");

    // A reload: the stored state, with the approval request, and the same pause.
    const resumed = await transport.reconnectToStream({ chatId });
    expect(resumed).not.toBeNull();
    const second = follow(resumed!);
    await second.ended;
    expect(second.errors).toEqual([]);
    expect(awaitsApproval(second.message)).toBe(true);
    expect(textOf(second.message)).toBe("Let me compute. ");
    expect(typesOf(second.chunks).slice(-2)).toEqual(["finish-step", "finish"]);
    const messageId = messageIdOf(second.chunks);
    expect(messageId).toBe(messageIdOf(first.chunks));
    expectWellFormedStream(await responses[1]!.body);

    // Answered elsewhere (REST); a reload after it streams the run from its start, past the answered request, and on.
    const approve = await fetch(`${baseUrl}/threads/${chatId}/approve`, {
      method: "POST",
      headers: { ...bearer(token), "content-type": "application/json" },
      body: JSON.stringify({ message_id: messageId, call_id: "call_mul" }),
    });
    expect(approve.status).toBe(200);
    const third = follow((await transport.reconnectToStream({ chatId }))!);
    await waitFor(() => textOf(third.message) === "Let me compute. It is 42.", "the rest of the run");
    expect(third.message!.parts.find(isToolUIPart)).toMatchObject({ toolCallId: "call_mul", state: "output-available", output: "42" });
    expect((await fetch(`${baseUrl}/threads/${chatId}/stop`, { method: "POST", headers: bearer(token) })).status).toBe(202);
    await third.ended;
    expect(third.errors).toEqual([]);
    expect(typesOf(third.chunks).at(-1)).toBe("abort");
    const stored = (await storedMessages(baseUrl, token, chatId)).messages[1]!;
    expect(stored.status).toBe("cancelled");
    expectSameAsStored(third.message, stored);
    expectWellFormedStream(await responses[2]!.body);
  });

  test("204 (null) when the thread has no active run, is unknown, or is another user's; 401 without a token", async () => {
    const { transport } = chatTransport(baseUrl, token);
    const chatId = crypto.randomUUID();
    harness.fake.enqueue(textResponse("Done already."));
    await follow(await sendText(transport, chatId, "Quick one")).ended;
    expect(await transport.reconnectToStream({ chatId })).toBeNull();
    expect(await transport.reconnectToStream({ chatId: crypto.randomUUID() })).toBeNull();

    // Another user's thread, even with a run going, answers as an idle one.
    harness.fake.enqueue(textResponse("Waiting", { ending: "stall" }));
    const running = follow(await sendText(transport, chatId, "Keep going"));
    await waitFor(() => textOf(running.message) === "Waiting", "the streamed text");
    const { transport: bobTransport } = chatTransport(baseUrl, await harness.server.token({ sub: "bob" }));
    expect(await bobTransport.reconnectToStream({ chatId })).toBeNull();
    const anonymous = await fetch(`${baseUrl}/ai-sdk/chat/${chatId}/stream`);
    expect(anonymous.status).toBe(401);
    expect(await anonymous.json()).toMatchObject({ code: "unauthorized" });
    expect((await fetch(`${baseUrl}/ai-sdk/chat/${encodeURIComponent("no spaces")}/stream`, { headers: bearer(token) })).status).toBe(400);
    expect((await fetch(`${baseUrl}/threads/${chatId}/stop`, { method: "POST", headers: bearer(token) })).status).toBe(202);
    await running.ended;
  });
});

describe("a run picked up from history (nothing checkpointed yet)", () => {
  let harness: AgentHarness;
  let baseUrl: string;
  let token: string;
  beforeAll(async () => {
    // Checkpoints far apart: the stored message still has no text when the stream is picked up.
    harness = await startAgentHarness({ CHECKPOINT_MS: "60000" });
    baseUrl = harness.server.httpUrl;
    token = await harness.server.token({ sub: "carol" });
  });
  afterAll(() => harness.stop());

  test("the resumed stream replays the run's events from its start, after an earlier run of the thread, then follows it to its stop", async () => {
    const { transport, responses } = chatTransport(baseUrl, token);
    const chatId = crypto.randomUUID();
    harness.fake.enqueue(textResponse("An earlier answer."));
    await follow(await sendText(transport, chatId, "First question")).ended;
    harness.fake.enqueue(textResponse("A long answer that stalls here", { chunkSize: 3, ending: "stall" }));
    const first = follow(await sendText(transport, chatId, "Second question"));
    await waitFor(() => textOf(first.message) === "A long answer that stalls here", "the streamed text");
    const running = (await storedMessages(baseUrl, token, chatId)).messages.at(-1)!;
    expect(running).toMatchObject({ status: "streaming", content: "" });

    // Both streams go on side by side: the first one was never cut.
    const resumed = follow((await transport.reconnectToStream({ chatId }))!);
    await waitFor(() => textOf(resumed.message) === "A long answer that stalls here", "the replayed text");
    expect(resumed.message!.id).toBe(running.id);
    expect(resumed.message!.parts.map((part) => part.type)).toEqual(["step-start", "text"]);
    expect((await fetch(`${baseUrl}/threads/${chatId}/stop`, { method: "POST", headers: bearer(token) })).status).toBe(202);
    await Promise.all([first.ended, resumed.ended]);
    const stored = (await storedMessages(baseUrl, token, chatId)).messages.at(-1)!;
    expect(stored.status).toBe("cancelled");
    for (const stream of [first, resumed]) {
      expect(stream.errors).toEqual([]);
      expect(typesOf(stream.chunks).at(-1)).toBe("abort");
      expectSameAsStored(stream.message, stored);
    }
    expectWellFormedStream(await responses[2]!.body);
  });
});

describe("a run whose events history no longer holds", () => {
  let harness: AgentHarness;
  beforeAll(async () => {
    // Nothing checkpointed, and a history of two events: the run's start is gone by the time it is picked up.
    harness = await startAgentHarness({ CHECKPOINT_MS: "60000", HISTORY_SIZE: "2" });
  });
  afterAll(() => harness.stop());

  test("the resumed stream is an error chunk telling the client to reload, never a silent gap", async () => {
    const baseUrl = harness.server.httpUrl;
    const token = await harness.server.token({ sub: "dave" });
    const { transport, responses } = chatTransport(baseUrl, token);
    const chatId = crypto.randomUUID();
    harness.fake.enqueue(textResponse("Gone from history", { ending: "stall" }));
    const first = follow(await sendText(transport, chatId, "Talk"));
    await waitFor(() => textOf(first.message) === "Gone from history", "the streamed text");
    const resumed = follow((await transport.reconnectToStream({ chatId }))!);
    await resumed.ended;
    expect(resumed.chunks).toEqual([
      { type: "start", messageId: messageIdOf(first.chunks) },
      { type: "start-step" },
      { type: "error", errorText: "the run's events could not be recovered; reload the thread" },
    ]);
    expect(await responses[1]!.body).toEndWith("data: [DONE]\n\n");
    expect((await fetch(`${baseUrl}/threads/${chatId}/stop`, { method: "POST", headers: bearer(token) })).status).toBe(202);
    await first.ended;
  });

  test("over /ai-sdk/ws: a resume after lastSequence is a coded error, not other chunks; one without it is the stored run", async () => {
    const baseUrl = harness.server.httpUrl;
    const token = await harness.server.token({ sub: "dave" });
    const { transport, sockets } = wsTransport(baseUrl, token);
    const chatId = crypto.randomUUID();
    harness.fake.enqueue(textResponse("Gone from history too", { ending: "stall" }));
    const first = follow(await sendWsText(transport, chatId, "Talk"));
    await waitFor(() => textOf(first.message) === "Gone from history too", "the streamed text");
    sockets[0]!.close();
    await first.ended.catch(() => {});
    const resume = (lastSequence?: number) => rawWsRequest(baseUrl, token, { type: "resume", requestId: "r", id: chatId, lastSequence, headers: {}, body: {} });
    expect(await resume(1)).toEqual([expect.objectContaining({ type: "error", code: "not_found", errorText: expect.stringContaining("no longer in history") })]);

    // The transport's own resume: picked up from storage as over HTTP, which tells the client to reload.
    const resumed = follow((await transport.reconnectToStream({ chatId }))!);
    await resumed.ended;
    expect(resumed.chunks.at(-1)).toEqual({ type: "error", errorText: "the run's events could not be recovered; reload the thread" });
    // That stream is the thread's latest and cannot be written again: its chunks are not continued either.
    expect(await resume(1)).toEqual([expect.objectContaining({ type: "error", code: "not_found", errorText: expect.stringContaining("picked up from storage") })]);
    expect((await fetch(`${baseUrl}/threads/${chatId}/stop`, { method: "POST", headers: bearer(token) })).status).toBe(202);
    transport.close();
  });
});
