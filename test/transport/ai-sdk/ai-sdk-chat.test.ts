// POST /ai-sdk/chat as the AI SDK's own DefaultChatTransport calls it (docs/protocol.md section 11): the
// run as a UI message stream that readUIMessageStream rebuilds into what GET /threads/:id/messages stores.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { UIMessageChunk } from "ai";
import { errorResponse, textResponse, toolCallResponse } from "../../helpers/fake-openai.ts";
import { startAgentHarness, type AgentHarness } from "../../helpers/runs.ts";
import { waitFor } from "../../helpers/wait.ts";
import {
  bearer,
  chatTransport,
  expectSameAsStored,
  expectWellFormedStream,
  follow,
  sendText,
  storedMessage,
  storedMessages,
  textOf,
  typesOf,
} from "./ai-sdk-kit.ts";

let harness: AgentHarness;
let baseUrl: string;
let token: string;

beforeAll(async () => {
  harness = await startAgentHarness();
  baseUrl = harness.server.httpUrl;
  token = await harness.server.token({ sub: "alice" });
});
afterAll(() => harness.stop());

const startOf = (chunks: UIMessageChunk[]) => chunks.find((chunk) => chunk.type === "start") as Extract<UIMessageChunk, { type: "start" }>;

describe("POST /ai-sdk/chat", () => {
  test("a plain answer: a new chat id becomes the caller's thread, and the stream rebuilds the stored answer", async () => {
    const { transport, responses } = chatTransport(baseUrl, token);
    const chatId = crypto.randomUUID();
    harness.fake.enqueue(textResponse("Hello there, nice to meet you.", { chunkSize: 5 }));
    const stream = follow(await sendText(transport, chatId, "Hello"));
    await stream.ended;
    expect(stream.errors).toEqual([]);
    expect(typesOf(stream.chunks).slice(0, 3)).toEqual(["start", "start-step", "text-start"]);
    expect(typesOf(stream.chunks).slice(-3)).toEqual(["text-end", "finish-step", "finish"]);
    expect(stream.chunks.at(-1)).toEqual({ type: "finish", finishReason: "stop" });
    const stored = await storedMessages(baseUrl, token, chatId);
    expect(stored.messages.map((message) => [message.role, message.status])).toEqual([
      ["user", "completed"],
      ["assistant", "completed"],
    ]);
    expect(stored.messages[0]!.content).toBe("Hello");
    expect(startOf(stream.chunks).messageId).toBe(stored.messages[1]!.id);
    expectSameAsStored(stream.message, stored.messages[1]!);
    expect(textOf(stream.message)).toBe("Hello there, nice to meet you.");
    // The wire: the AI SDK's header, and every chunk with the id of the run event it came from.
    const response = responses[0]!;
    expect(response.headers.get("x-vercel-ai-ui-message-stream")).toBe("v1");
    expect(response.headers.get("content-type")).toStartWith("text/event-stream");
    expectWellFormedStream(await response.body);
    const threads = (await (await fetch(`${baseUrl}/threads`, { headers: bearer(token) })).json()) as { threads: { id: string; title: string }[] };
    expect(threads.threads).toContainEqual(expect.objectContaining({ id: chatId, title: "Hello" }));
    // The stream was released when it ended.
    await waitFor(() => harness.server.app.gateway.connectionCount === 0, "the finished stream to be released");
  });

  test("a follow-up takes the earlier messages from the stored thread, not from the client", async () => {
    const { transport } = chatTransport(baseUrl, token);
    const chatId = crypto.randomUUID();
    harness.fake.enqueue(textResponse("Nice to meet you, Ada."), textResponse("Your name is Ada."));
    await follow(await sendText(transport, chatId, "My name is Ada.")).ended;
    // The client sends only its new message (and could send anything before it).
    const second = follow(await sendText(transport, chatId, "What is my name?"));
    await second.ended;
    expect(textOf(second.message)).toBe("Your name is Ada.");
    const modelMessages = harness.fake.requests.at(-1)!.body.messages.filter((message) => message.role !== "system");
    expect(modelMessages).toEqual([
      { role: "user", content: "My name is Ada." },
      { role: "assistant", content: "Nice to meet you, Ada." },
      { role: "user", content: "What is my name?" },
    ]);
  });

  test("a tool call: the calculator's input and output as a tool part, each model round a step", async () => {
    const { transport, responses } = chatTransport(baseUrl, token);
    const chatId = crypto.randomUUID();
    harness.fake.enqueue(toolCallResponse([{ id: "call_calc", name: "calculator", arguments: { expression: "6*(3+4)" } }], { text: "Let me compute. " }), textResponse("It is 42."));
    const stream = follow(await sendText(transport, chatId, "What is 6*(3+4)?"));
    await stream.ended;
    expect(stream.errors).toEqual([]);
    // Deltas may be coalesced differently from run to run: runs of them count as one here.
    expect(typesOf(stream.chunks).filter((type, index, all) => type !== "text-delta" || all[index - 1] !== "text-delta")).toEqual([
      "start",
      "start-step",
      "text-start",
      "text-delta",
      "text-end",
      "tool-input-available",
      "tool-output-available",
      "finish-step",
      "start-step",
      "text-start",
      "text-delta",
      "text-end",
      "finish-step",
      "finish",
    ]);
    const message = stream.message!;
    expect(message.parts.filter((part) => part.type === "step-start")).toHaveLength(2);
    expect(message.parts.find((part) => part.type === "tool-calculator")).toMatchObject({
      toolCallId: "call_calc",
      state: "output-available",
      input: { expression: "6*(3+4)" },
      output: "42",
    });
    const stored = (await storedMessages(baseUrl, token, chatId)).messages[1]!;
    expect(stored.content).toBe("Let me compute. It is 42.");
    expectSameAsStored(message, stored);
    expectWellFormedStream(await responses[0]!.body);
  });

  test("a reasoning model: reasoning parts before the text", async () => {
    const { transport } = chatTransport(baseUrl, token);
    const chatId = crypto.randomUUID();
    harness.fake.enqueue(textResponse("The answer is 4.", { reasoning: "Two plus two makes four." }));
    const stream = follow(await sendText(transport, chatId, "2+2?"));
    await stream.ended;
    expect(stream.errors).toEqual([]);
    expect(stream.message!.parts.map((part) => part.type)).toEqual(["step-start", "reasoning", "text"]);
    expect(textOf(stream.message, "reasoning")).toBe("Two plus two makes four.");
    const stored = (await storedMessages(baseUrl, token, chatId)).messages[1]!;
    expect(stored.reasoning).toBe("Two plus two makes four.");
    expectSameAsStored(stream.message, stored);
  });

  test("use_reasoning: false in the app's body fields leaves the reasoning out", async () => {
    const { transport } = chatTransport(baseUrl, token);
    const chatId = crypto.randomUUID();
    harness.fake.enqueue(textResponse("Four.", { reasoning: "Hidden thoughts." }));
    const stream = follow(await sendText(transport, chatId, "2+2?", { body: { use_reasoning: false } }));
    await stream.ended;
    expect(typesOf(stream.chunks)).not.toContain("reasoning-start");
    expectSameAsStored(stream.message, (await storedMessages(baseUrl, token, chatId)).messages[1]!);
  });

  test("sources found by search_history are source-document parts with their snippet", async () => {
    const searcher = await harness.server.token({ sub: "sam" });
    const { transport: samTransport } = chatTransport(baseUrl, searcher);
    harness.fake.enqueue(textResponse("Noted."));
    await follow(await sendText(samTransport, crypto.randomUUID(), "I keep a zebra named Stripes")).ended;
    const chatId = crypto.randomUUID();
    harness.fake.enqueue(toolCallResponse([{ name: "search_history", arguments: { query: "zebra" } }]), textResponse("You keep a zebra."));
    const stream = follow(await sendText(samTransport, chatId, "What animal do I keep?"));
    await stream.ended;
    expect(stream.errors).toEqual([]);
    const sources = stream.message!.parts.filter((part) => part.type === "source-document");
    expect(sources.length).toBeGreaterThan(0);
    expect(sources[0]).toMatchObject({ type: "source-document", mediaType: "text/plain", title: "I keep a zebra named Stripes" });
    expectSameAsStored(stream.message, (await storedMessages(baseUrl, searcher, chatId)).messages.at(-1)!);
  });

  test("a failed provider: an error chunk with the run's message, the stored error the same", async () => {
    const { transport, responses } = chatTransport(baseUrl, token);
    const chatId = crypto.randomUUID();
    harness.fake.enqueue(errorResponse(400, { message: "bad request" }));
    const stream = follow(await sendText(transport, chatId, "Fail, please"));
    await stream.ended;
    const last = stream.chunks.at(-1)!;
    expect(last.type).toBe("error");
    const stored = (await storedMessages(baseUrl, token, chatId)).messages[1]!;
    expect(stored.status).toBe("error");
    expect(last).toEqual({ type: "error", errorText: stored.error!.message });
    // readUIMessageStream reports the error chunk, and nothing else went wrong.
    expect(stream.errors.map((error) => error.message)).toEqual([stored.error!.message]);
    expectSameAsStored(stream.message, stored);
    expectWellFormedStream(await responses[0]!.body);
  });

  test("a run stopped over REST mid-stream ends with an abort chunk; a send meanwhile is a conflict", async () => {
    const { transport } = chatTransport(baseUrl, token);
    const chatId = crypto.randomUUID();
    harness.fake.enqueue(textResponse("This answer never finishes on its own", { ending: "stall" }));
    const stream = follow(await sendText(transport, chatId, "Talk forever"));
    await waitFor(() => textOf(stream.message) === "This answer never finishes on its own", "the streamed text");
    // One run at a time per thread.
    await expect(sendText(transport, chatId, "Another one")).rejects.toThrow(/already active/);
    const stop = await fetch(`${baseUrl}/threads/${chatId}/stop`, { method: "POST", headers: bearer(token) });
    expect(stop.status).toBe(202);
    await stream.ended;
    expect(typesOf(stream.chunks).slice(-3)).toEqual(["text-end", "finish-step", "abort"]);
    expect(stream.errors).toEqual([]);
    const stored = (await storedMessages(baseUrl, token, chatId)).messages[1]!;
    expect(stored.status).toBe("cancelled");
    expectSameAsStored(stream.message, stored);
  });

  test("aborting the fetch does not stop the run; the stream is released", async () => {
    const { transport } = chatTransport(baseUrl, token);
    const chatId = crypto.randomUUID();
    const fetchAbort = new AbortController();
    harness.fake.enqueue(textResponse("Still going without a reader", { ending: "stall" }));
    const stream = follow(await sendText(transport, chatId, "Go on", { abortSignal: fetchAbort.signal }));
    await waitFor(() => textOf(stream.message).length > 0, "the first text");
    fetchAbort.abort();
    await stream.ended.catch(() => {});
    await waitFor(() => harness.server.app.gateway.connectionCount === 0, "the aborted stream to be released");
    const running = (await storedMessages(baseUrl, token, chatId)).messages[1]!;
    expect(running.status).toBe("streaming");
    expect(harness.fake.requests.at(-1)!.aborted).toBe(false);
    // Stopping is explicit.
    expect((await fetch(`${baseUrl}/threads/${chatId}/stop`, { method: "POST", headers: bearer(token) })).status).toBe(202);
    await waitFor(async () => (await storedMessage(baseUrl, token, chatId, running.id)).status === "cancelled", "the run to be stopped");
  });
});
