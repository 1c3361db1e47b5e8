// The OpenAI model client against a real SSE server: deltas, tool calls, retries, cuts, aborts, time limits.

import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { ModelError, type ModelEvent, type ModelRequest } from "../../src/agent/model/model-client.ts";
import { createOpenAIModel, type OpenAIModelOptions } from "../../src/agent/model/openai-model.ts";
import {
  cutResponse,
  errorResponse,
  hangResponse,
  startFakeOpenAI,
  streamResponse,
  textResponse,
  toolCallResponse,
  type FakeOpenAI,
} from "../helpers/fake-openai.ts";
import { waitFor } from "../helpers/wait.ts";

const API_KEY = "sk-test-0123456789-very-secret";
const question: ModelRequest = { messages: [{ role: "user", content: "Hi" }], tools: [] };

let fake: FakeOpenAI;
beforeEach(async () => {
  fake = await startFakeOpenAI();
});
afterEach(async () => {
  await fake.close();
});

function openAIModel(overrides: Partial<OpenAIModelOptions> = {}) {
  return createOpenAIModel({
    baseURL: fake.url,
    apiKey: API_KEY,
    model: "fake-model",
    maxRetries: 2,
    retryBaseMs: 5,
    requestTimeoutMs: 10_000,
    ...overrides,
  });
}

async function collect(stream: AsyncIterable<ModelEvent>): Promise<ModelEvent[]> {
  const events: ModelEvent[] = [];
  for await (const event of stream) events.push(event);
  return events;
}

/** Runs the stream to its failure; returns the ModelError and what was streamed before it. */
async function failure(stream: AsyncIterable<ModelEvent>): Promise<{ error: ModelError; events: ModelEvent[] }> {
  const events: ModelEvent[] = [];
  try {
    for await (const event of stream) events.push(event);
  } catch (error) {
    if (!(error instanceof ModelError)) throw error;
    return { error, events };
  }
  throw new Error(`expected a ModelError, the stream ended with ${JSON.stringify(events.at(-1))}`);
}

const deltas = (events: ModelEvent[], type: "text" | "reasoning") => events.flatMap((event) => (event.type === type ? [event.delta] : []));
const endOf = (events: ModelEvent[]) => events.find((event) => event.type === "end");

describe("streaming a turn", () => {
  test("text arrives as deltas, then one end with usage and finish reason", async () => {
    fake.enqueue(textResponse("Hello world", { chunkSize: 3, delayMs: 2, usage: { prompt_tokens: 7, completion_tokens: 4 } }));
    const model = openAIModel();
    const events = await collect(model.stream(question, new AbortController().signal));
    expect(model.name).toBe("openai:fake-model");
    expect(deltas(events, "text")).toEqual(["Hel", "lo ", "wor", "ld"]);
    expect(events.at(-1)).toEqual({ type: "end", toolCalls: [], usage: { prompt_tokens: 7, completion_tokens: 4 }, finishReason: "stop" });
    expect(events.filter((event) => event.type === "end")).toHaveLength(1);
  });

  test("reasoning from reasoning_content (DeepSeek, vLLM) comes before the text", async () => {
    fake.enqueue(textResponse("42", { reasoning: "Let me think.", reasoningField: "reasoning_content" }));
    const events = await collect(openAIModel().stream(question, new AbortController().signal));
    expect(deltas(events, "reasoning").join("")).toBe("Let me think.");
    expect(events.findIndex((event) => event.type === "reasoning")).toBeLessThan(events.findIndex((event) => event.type === "text"));
    expect(deltas(events, "text").join("")).toBe("42");
  });

  test("reasoning from reasoning (Ollama, Groq, OpenRouter)", async () => {
    fake.enqueue(textResponse("42", { reasoning: "Counting.", reasoningField: "reasoning" }));
    const events = await collect(openAIModel().stream(question, new AbortController().signal));
    expect(deltas(events, "reasoning").join("")).toBe("Counting.");
  });

  test("usage on the finish chunk, as some providers send it", async () => {
    fake.enqueue(textResponse("ok", { usageOnFinishChunk: true, usage: { prompt_tokens: 3, completion_tokens: 1 } }));
    const events = await collect(openAIModel().stream(question, new AbortController().signal));
    expect(endOf(events)).toMatchObject({ usage: { prompt_tokens: 3, completion_tokens: 1 }, finishReason: "stop" });
  });
});

describe("tool calls", () => {
  test("arguments split over many chunks are joined", async () => {
    fake.enqueue(toolCallResponse([{ id: "call_a", name: "calculator", arguments: { expression: "(1 + 2) * 3" } }], { splitArguments: true }));
    const events = await collect(openAIModel().stream(question, new AbortController().signal));
    expect(endOf(events)).toEqual({
      type: "end",
      toolCalls: [{ id: "call_a", type: "function", function: { name: "calculator", arguments: '{"expression":"(1 + 2) * 3"}' } }],
      usage: { prompt_tokens: 10, completion_tokens: 5 },
      finishReason: "tool_calls",
    });
  });

  test("several calls interleaved in one turn come out whole, in index order", async () => {
    const calls = [
      { id: "call_time", name: "current_time", arguments: "" },
      { id: "call_calc", name: "calculator", arguments: { expression: "2 ^ 10" } },
      { id: "call_search", name: "search_history", arguments: { query: "lunch plans" } },
    ];
    fake.enqueue(toolCallResponse(calls, { splitArguments: 2, interleave: true, text: "Checking." }));
    const events = await collect(openAIModel().stream(question, new AbortController().signal));
    expect(deltas(events, "text").join("")).toBe("Checking.");
    expect(endOf(events)?.type === "end" && endOf(events)).toMatchObject({
      toolCalls: [
        { id: "call_time", function: { name: "current_time", arguments: "{}" } },
        { id: "call_calc", function: { name: "calculator", arguments: '{"expression":"2 ^ 10"}' } },
        { id: "call_search", function: { name: "search_history", arguments: '{"query":"lunch plans"}' } },
      ],
    });
  });

  test("a call streamed without an id gets a generated one", async () => {
    fake.enqueue(
      toolCallResponse(
        [
          { id: "call_given", name: "current_time", arguments: {} },
          { id: null, name: "calculator", arguments: { expression: "1" } },
        ],
        { splitArguments: true },
      ),
    );
    const end = endOf(await collect(openAIModel().stream(question, new AbortController().signal)));
    if (end?.type !== "end") throw new Error("no end event");
    expect(end.toolCalls.map((call) => call.function.name)).toEqual(["current_time", "calculator"]);
    expect(end.toolCalls[0]?.id).toBe("call_given");
    expect(end.toolCalls[1]?.id).toMatch(/^call_1_\w+$/);
    expect(end.toolCalls[1]?.function.arguments).toBe('{"expression":"1"}');
  });
});

describe("the request", () => {
  test("carries model, history, tools, stream and include_usage, and the key only in the header", async () => {
    const history: ModelRequest = {
      messages: [
        { role: "system", content: "Be brief." },
        { role: "user", content: "What is 2+2?" },
        { role: "assistant", content: null, tool_calls: [{ id: "c1", type: "function", function: { name: "calculator", arguments: '{"expression":"2+2"}' } }] },
        { role: "tool", tool_call_id: "c1", content: "4" },
        { role: "assistant", content: "4.", tool_calls: [] },
        { role: "user", content: "Thanks" },
      ],
      tools: [{ name: "calculator", description: "Evaluates arithmetic.", parameters: { type: "object", properties: { expression: { type: "string" } } } }],
    };
    await collect(openAIModel().stream(history, new AbortController().signal));
    const [recorded] = await fake.waitForRequests(1);
    expect(recorded?.body).toMatchObject({
      model: "fake-model",
      stream: true,
      stream_options: { include_usage: true },
      tools: [{ type: "function", function: history.tools[0] }],
    });
    expect(recorded?.body.messages).toEqual([
      ...history.messages.slice(0, 4),
      // OpenAI rejects an empty tool_calls array.
      { role: "assistant", content: "4." },
      { role: "user", content: "Thanks" },
    ]);
    expect(recorded?.headers.authorization).toBe(`Bearer ${API_KEY}`);
  });

  test("sends no Authorization header without a key, for local providers", async () => {
    await collect(openAIModel({ apiKey: undefined }).stream(question, new AbortController().signal));
    expect(fake.requests[0]?.headers).not.toHaveProperty("authorization");
  });

  test("leaves tools out when there are none", async () => {
    await collect(openAIModel().stream(question, new AbortController().signal));
    expect(fake.requests[0]?.body).not.toHaveProperty("tools");
  });
});

describe("retries", () => {
  test("500, 500, then success: three requests, one answer", async () => {
    fake.enqueue(errorResponse(500), errorResponse(500), textResponse("third time lucky"));
    const events = await collect(openAIModel().stream(question, new AbortController().signal));
    expect(deltas(events, "text").join("")).toBe("third time lucky");
    expect(fake.requests).toHaveLength(3);
  });

  test("429 waits for Retry-After rather than the short backoff", async () => {
    fake.enqueue(errorResponse(429, { retryAfter: "1" }), textResponse("after the wait"));
    const started = performance.now();
    const events = await collect(openAIModel({ retryBaseMs: 1 }).stream(question, new AbortController().signal));
    expect(deltas(events, "text").join("")).toBe("after the wait");
    expect(fake.requests).toHaveLength(2);
    expect(performance.now() - started).toBeGreaterThanOrEqual(900);
  });

  test("retry-after-ms is honoured too", async () => {
    fake.enqueue(errorResponse(503, { headers: { "retry-after-ms": "300" } }), textResponse("after the wait"));
    const started = performance.now();
    await collect(openAIModel({ retryBaseMs: 1 }).stream(question, new AbortController().signal));
    expect(fake.requests).toHaveLength(2);
    expect(performance.now() - started).toBeGreaterThanOrEqual(250);
  });

  test("the caller's abort during the wait before a retry ends the iterator quietly", async () => {
    fake.enqueue(errorResponse(429, { retryAfter: "3600" }));
    const controller = new AbortController();
    const stream = collect(openAIModel().stream(question, controller.signal));
    await fake.waitForRequests(1);
    controller.abort();
    expect(await stream).toEqual([]);
    expect(fake.requests).toHaveLength(1);
  });

  test("400 is not retried and names the status and the provider's reason", async () => {
    fake.enqueue(errorResponse(400, { message: "Unknown model fake-model" }), textResponse("never sent"));
    const { error } = await failure(openAIModel().stream(question, new AbortController().signal));
    expect(error.details).toEqual({ kind: "http", status: 400, attempts: 1 });
    expect(error.message).toContain("400");
    expect(error.message).toContain("Unknown model fake-model");
    expect(fake.requests).toHaveLength(1);
  });

  test("401 is not retried and does not repeat what the provider said about the key", async () => {
    fake.enqueue(errorResponse(401, { message: `Incorrect API key provided: ${API_KEY}.` }));
    const { error } = await failure(openAIModel().stream(question, new AbortController().signal));
    expect(error.details).toEqual({ kind: "http", status: 401, attempts: 1 });
    expect(error.message).not.toContain(API_KEY);
    expect(fake.requests).toHaveLength(1);
  });

  test("retries exhausted: the error names status and attempts, never the key", async () => {
    fake.setDefault(errorResponse(503, { message: `overloaded, key ${API_KEY}` }));
    const { error } = await failure(openAIModel().stream(question, new AbortController().signal));
    expect(error.details).toEqual({ kind: "http", status: 503, attempts: 3 });
    expect(error.message).toContain("503");
    expect(error.message).toContain("3 attempts");
    expect(error.message).toContain("overloaded");
    expect(error.message).not.toContain(API_KEY);
    expect(JSON.stringify(error.details)).not.toContain(API_KEY);
    expect(fake.requests).toHaveLength(3);
  });

  test("connection refused: a connection error after the retries", async () => {
    const probe = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: () => new Response() });
    const closedPort = probe.port;
    await probe.stop(true);
    const model = openAIModel({ baseURL: `http://localhost:${closedPort}/v1` });
    const { error } = await failure(model.stream(question, new AbortController().signal));
    expect(error.details).toEqual({ kind: "connection", attempts: 3 });
    expect(error.message).toContain(`could not reach the model provider at localhost:${closedPort}`);
    expect(error.message).not.toContain(API_KEY);
  });
});

describe("broken streams", () => {
  test("a stream cut after the first token fails and is not retried", async () => {
    fake.enqueue(cutResponse(3, textResponse("Hello world", { chunkSize: 3 })), textResponse("never sent"));
    const { error, events } = await failure(openAIModel().stream(question, new AbortController().signal));
    expect(deltas(events, "text")).toEqual(["Hel", "lo "]);
    expect(endOf(events)).toBeUndefined();
    expect(error.details.kind).toBe("connection");
    expect(fake.requests).toHaveLength(1);
  });

  test("a stream cut before any token is retried", async () => {
    fake.enqueue(cutResponse(1), textResponse("second try"));
    const events = await collect(openAIModel().stream(question, new AbortController().signal));
    expect(deltas(events, "text").join("")).toBe("second try");
    expect(fake.requests).toHaveLength(2);
  });

  test("a stream that ends without finish_reason or [DONE] is an error, not a short answer", async () => {
    fake.enqueue(streamResponse([{ type: "role" }, { type: "content", text: "Half an ans" }], { ending: "close" }));
    const { error, events } = await failure(openAIModel().stream(question, new AbortController().signal));
    expect(deltas(events, "text")).toEqual(["Half an ans"]);
    expect(error.details.kind).toBe("protocol");
  });

  test("a chunk that is not JSON is a protocol error", async () => {
    fake.enqueue(streamResponse([{ type: "content", text: "Hi" }, { type: "raw", data: "{not json" }]));
    const { error } = await failure(openAIModel().stream(question, new AbortController().signal));
    expect(error.details.kind).toBe("protocol");
  });

  test("an error object inside the stream is a protocol error with the provider's reason", async () => {
    fake.enqueue(streamResponse([{ type: "content", text: "Hi" }, { type: "raw", data: '{"error":{"message":"upstream model crashed"}}' }]));
    const { error } = await failure(openAIModel().stream(question, new AbortController().signal));
    expect(error.details.kind).toBe("protocol");
    expect(error.message).toContain("upstream model crashed");
  });
});

describe("stopping", () => {
  test("the caller's abort mid-stream ends the iterator quietly and closes the request", async () => {
    fake.enqueue(textResponse("a long and slow answer that nobody waits for", { chunkSize: 2, delayMs: 20 }));
    const controller = new AbortController();
    const events: ModelEvent[] = [];
    for await (const event of openAIModel().stream(question, controller.signal)) {
      events.push(event);
      if (events.length === 2) controller.abort();
    }
    expect(events.map((event) => event.type)).toEqual(["text", "text"]);
    await waitFor(() => fake.requests[0]?.aborted === true, "the fake to see the request aborted");
  });

  test("the caller's abort before any answer ends the iterator quietly", async () => {
    fake.enqueue(hangResponse());
    const controller = new AbortController();
    const stream = collect(openAIModel().stream(question, controller.signal));
    await fake.waitForRequests(1);
    controller.abort();
    expect(await stream).toEqual([]);
    await waitFor(() => fake.requests[0]?.aborted === true, "the fake to see the request aborted");
  });

  test("a consumer that stops iterating closes the request", async () => {
    fake.enqueue(textResponse("a long and slow answer that nobody reads to the end", { chunkSize: 2, delayMs: 20 }));
    let read = 0;
    for await (const event of openAIModel().stream(question, new AbortController().signal)) {
      read++;
      if (event.type === "text") break;
    }
    await waitFor(() => fake.requests[0]?.aborted === true, "the fake to see the request aborted");
    expect(read).toBeGreaterThan(0);
    expect(fake.requests).toHaveLength(1);
    // The fake never got to finish its slow answer.
    expect(fake.requests[0]).toMatchObject({ aborted: true, completed: false });
  });

  test("a provider that never answers hits the time limit", async () => {
    fake.enqueue(hangResponse());
    const { error } = await failure(openAIModel({ requestTimeoutMs: 300 }).stream(question, new AbortController().signal));
    expect(error.details.kind).toBe("timeout");
    expect(error.message).toContain("300 ms");
    expect(fake.requests).toHaveLength(1);
    await waitFor(() => fake.requests[0]?.aborted === true, "the fake to see the request aborted");
  });

  test("the time limit covers streaming, not only the wait for headers", async () => {
    fake.enqueue(textResponse("slow start", { chunkSize: 5, ending: "stall" }));
    const { error, events } = await failure(openAIModel({ requestTimeoutMs: 400 }).stream(question, new AbortController().signal));
    expect(deltas(events, "text").join("")).toBe("slow start");
    expect(error.details.kind).toBe("timeout");
    await waitFor(() => fake.requests[0]?.aborted === true, "the fake to see the request aborted");
  });
});
