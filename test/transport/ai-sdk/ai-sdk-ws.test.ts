// /ai-sdk/ws as the `ai` package's own WebSocketChatTransport uses it (docs/protocol.md section 11.5):
// a send streams the run's chunks, a resume with lastSequence continues after that chunk exactly once,
// one without it replays the active run from its start, and an abort stops the run.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { UIMessage } from "ai";
import { textResponse } from "../../helpers/fake-openai.ts";
import { startAgentHarness, type AgentHarness } from "../../helpers/runs.ts";
import { waitFor } from "../../helpers/wait.ts";
import { bearer, expectSameAsStored, follow, rawWsRequest, rebuild, sendWsText, storedMessages, textOf, typesOf, userMessage, wsTransport } from "./ai-sdk-kit.ts";

describe("/ai-sdk/ws with WebSocketChatTransport", () => {
  let harness: AgentHarness;
  let baseUrl: string;
  let token: string;
  beforeAll(async () => {
    harness = await startAgentHarness();
    baseUrl = harness.server.httpUrl;
    token = await harness.server.token({ sub: "dora" });
  });
  afterAll(() => harness.stop());

  test("a send streams the run, rebuilt as stored; bad input is a coded error and the connection stays; idle resume is null", async () => {
    const { transport, sockets } = wsTransport(baseUrl, token);
    const chatId = crypto.randomUUID();
    harness.fake.enqueue(textResponse("Hello over a socket.", { reasoning: "Thinking." }));
    const answer = follow(await sendWsText(transport, chatId, "Hi"));
    await answer.ended;
    expect(answer.errors).toEqual([]);
    expect(typesOf(answer.chunks).at(-1)).toBe("finish");
    const stored = (await storedMessages(baseUrl, token, chatId)).messages[1]!;
    expectSameAsStored(answer.message, stored);

    // A last message without text: the route's own error, coded; the same socket serves the next request.
    const empty: UIMessage = { id: "u-empty", role: "user", parts: [{ type: "text", text: "" }] };
    const failed = await transport.sendMessages({ trigger: "submit-message", chatId, messageId: undefined, messages: [empty], abortSignal: undefined });
    await expect(new Response(failed).text()).rejects.toThrow(/invalid_message/);
    expect(await transport.reconnectToStream({ chatId })).toBeNull();
    expect(await transport.reconnectToStream({ chatId: crypto.randomUUID() })).toBeNull();
    expect(sockets.length).toBe(1);
    expect(sockets[0]!.readyState).toBe(WebSocket.OPEN);

    // Another user's thread is not found; a bad frame is coded too.
    const bobToken = await harness.server.token({ sub: "bob" });
    const bobs = await rawWsRequest(baseUrl, bobToken, { type: "send", requestId: "r1", id: chatId, trigger: "submit-message", messages: [userMessage("mine?")], headers: {}, body: {} });
    expect(bobs).toEqual([expect.objectContaining({ type: "error", requestId: "r1", code: "not_found" })]);
    expect(await rawWsRequest(baseUrl, token, { type: "dance", requestId: "r2" })).toEqual([expect.objectContaining({ type: "error", code: "unsupported_frame" })]);
    // Nesting past the depth limit is refused before the frame is parsed, never an internal failure.
    const deep = `{"type":"send","requestId":"r3","id":"${chatId}","body":${'{"a":'.repeat(40_000)}1${"}".repeat(40_000)}}`;
    expect(await rawWsRequest(baseUrl, token, deep)).toEqual([expect.objectContaining({ type: "error", code: "invalid_message" })]);
    expect((await fetch(`${baseUrl}/ai-sdk/ws`, { headers: { upgrade: "websocket" } })).status).toBe(401);
    transport.close();
  });

  test("a socket cut mid-run: resume with lastSequence continues after that chunk exactly once; none is active after the run", async () => {
    const { transport, sockets } = wsTransport(baseUrl, token);
    const chatId = crypto.randomUUID();
    harness.fake.enqueue(textResponse("A long answer that stalls here", { chunkSize: 3, ending: "stall" }));
    const first = follow(await sendWsText(transport, chatId, "Tell me"));
    await waitFor(() => textOf(first.message) === "A long answer that stalls here", "the streamed text");
    const before = [...first.chunks];
    sockets[0]!.close();
    await first.ended.catch(() => {});
    expect(first.chunks).toEqual(before);

    // While no one listens, the run is stopped: its last chunks are produced with no socket to take them.
    expect((await fetch(`${baseUrl}/threads/${chatId}/stop`, { method: "POST", headers: bearer(token) })).status).toBe(202);
    const lastSequence = before.length - 1;
    const frames = await rawWsRequest(baseUrl, token, { type: "resume", requestId: "again", id: chatId, lastSequence, headers: {}, body: {} });
    expect(frames[0]).toEqual({ type: "start", requestId: "again" });
    expect(frames.at(-1)).toEqual({ type: "end", requestId: "again" });
    const rest = frames.slice(1, -1);
    expect(rest.map((frame) => frame.sequence)).toEqual(rest.map((_, index) => lastSequence + 1 + index));
    expect(typesOf(rest.map((frame) => frame.chunk!))).toEqual(["text-end", "finish-step", "abort"]);
    const whole = await rebuild([...before, ...rest.map((frame) => frame.chunk!)]);
    await waitFor(async () => (await storedMessages(baseUrl, token, chatId)).messages[1]?.status === "cancelled", "the stored cancel");
    const stored = (await storedMessages(baseUrl, token, chatId)).messages[1]!;
    expectSameAsStored(whole, stored);
    expect(textOf(whole)).toBe("A long answer that stalls here");

    // The run is over: the transport's own resume (no lastSequence) finds none.
    expect(await transport.reconnectToStream({ chatId })).toBeNull();
    expect(await rawWsRequest(baseUrl, token, { type: "resume", requestId: "x", id: crypto.randomUUID(), lastSequence: 3, headers: {}, body: {} })).toEqual([{ type: "no-active", requestId: "x" }]);
    transport.close();
  });

  test("the transport's reconnect on a new socket replays the active run from its start, once", async () => {
    const { transport, sockets } = wsTransport(baseUrl, token);
    const chatId = crypto.randomUUID();
    harness.fake.enqueue(textResponse("Still going strong", { chunkSize: 4, ending: "stall" }));
    const first = follow(await sendWsText(transport, chatId, "Go"));
    await waitFor(() => textOf(first.message) === "Still going strong", "the streamed text");
    sockets[0]!.close();
    await first.ended.catch(() => {});
    const resumed = await transport.reconnectToStream({ chatId });
    expect(resumed).not.toBeNull();
    expect(sockets.length).toBe(2);
    const second = follow(resumed!);
    await waitFor(() => textOf(second.message) === "Still going strong", "the replayed text");
    expect((await fetch(`${baseUrl}/threads/${chatId}/stop`, { method: "POST", headers: bearer(token) })).status).toBe(202);
    await second.ended;
    expect(second.errors).toEqual([]);
    expect(typesOf(second.chunks).at(-1)).toBe("abort");
    expect(second.chunks.filter((chunk) => chunk.type === "start")).toHaveLength(1);
    await waitFor(async () => (await storedMessages(baseUrl, token, chatId)).messages[1]?.status === "cancelled", "the stored cancel");
    expectSameAsStored(second.message, (await storedMessages(baseUrl, token, chatId)).messages[1]!);
    transport.close();
  });

  test("aborting the request stops the run: the model's request is aborted", async () => {
    const { transport } = wsTransport(baseUrl, token);
    const chatId = crypto.randomUUID();
    const requestsBefore = harness.fake.requests.length;
    harness.fake.enqueue(textResponse("Working on it", { ending: "stall" }));
    const controller = new AbortController();
    const answer = follow(await sendWsText(transport, chatId, "Start", controller.signal));
    await waitFor(() => textOf(answer.message) === "Working on it", "the streamed text");
    controller.abort();
    await answer.ended.catch(() => {});
    const request = harness.fake.requests[requestsBefore]!;
    await waitFor(() => request.aborted, "the model request to be aborted");
    await waitFor(async () => (await storedMessages(baseUrl, token, chatId)).messages[1]?.status === "cancelled", "the stored cancel");
    transport.close();
  });
});
