// A scriptable OpenAI-compatible Chat Completions server that streams real SSE, for model and run tests.
//
// Usage:
//   const fake = await startFakeOpenAI();
//   fake.enqueue(errorResponse(500), textResponse("Hello world", { chunkSize: 3 }));
//   ... point the client at fake.url ...
//   expect(fake.requests[1]?.body.messages).toEqual(...);
//   await fake.close();
//
// Each POST /v1/chat/completions takes the next script from the queue (or the default, a plain
// answer). Every request is recorded with its parsed body, its headers and whether the client went
// away before the response finished.

import type { Server } from "bun";
import { textResponse } from "./fake-openai-scripts.ts";
import { waitFor } from "./wait.ts";

export * from "./fake-openai-scripts.ts";

export interface FakeUsage {
  prompt_tokens: number;
  completion_tokens: number;
}

/** One fragment of a streamed tool call; `id` and `name` normally come only in the first one. */
export interface ToolCallFragment {
  index: number;
  id?: string;
  name?: string;
  arguments?: string;
}

export type ReasoningField = "reasoning_content" | "reasoning";

/** One SSE chunk the fake sends (the `usage` kinds only when the request asked for include_usage). */
export type StreamStep =
  | { type: "role" }
  | { type: "content"; text: string }
  | { type: "reasoning"; text: string; field?: ReasoningField }
  | { type: "tool-calls"; fragments: ToolCallFragment[] }
  | { type: "finish"; reason: string; usage?: FakeUsage }
  | { type: "usage"; usage: FakeUsage }
  | { type: "raw"; data: string };

/**
 * How a stream ends after its steps: `done` sends `data: [DONE]`; `close` ends the body cleanly
 * without it; `cut` drops the connection (the client sees a reset); `stall` keeps the connection
 * open and silent until the client gives up.
 */
export type StreamEnding = "done" | "close" | "cut" | "stall";

export type ScriptedResponse =
  | { kind: "stream"; steps: StreamStep[]; delayMs?: number; ending?: StreamEnding }
  | { kind: "error"; status: number; body?: unknown; headers?: Record<string, string> }
  | { kind: "hang" };

export type StreamScript = Extract<ScriptedResponse, { kind: "stream" }>;

/** A response, or a function choosing one from the request (e.g. to answer after a tool result). */
export type Script = ScriptedResponse | ((request: RecordedRequest) => ScriptedResponse);

export interface ChatCompletionBody {
  model: string;
  messages: Array<Record<string, unknown>>;
  tools?: Array<Record<string, unknown>>;
  stream?: boolean;
  stream_options?: { include_usage?: boolean };
  [key: string]: unknown;
}

export interface RecordedRequest {
  body: ChatCompletionBody;
  /** Header names in lower case. */
  headers: Record<string, string>;
  /** True once the client went away before the fake finished its response. */
  aborted: boolean;
  /** True once the fake finished its response (including a scripted cut). */
  completed: boolean;
}

export interface FakeOpenAI {
  /** Base URL for the client, `http://localhost:PORT/v1`. */
  readonly url: string;
  readonly port: number;
  /** Every chat completion request so far, in arrival order. */
  readonly requests: RecordedRequest[];
  /** Queues scripts; each request takes the next one. */
  enqueue(...scripts: Script[]): void;
  /** What requests get once the queue is empty. */
  setDefault(script: Script): void;
  /** Scripts not yet taken. */
  pendingScripts(): number;
  /** Resolves once `count` requests arrived. */
  waitForRequests(count: number, timeoutMs?: number): Promise<RecordedRequest[]>;
  close(): Promise<void>;
}

export async function startFakeOpenAI(options: { defaultScript?: Script } = {}): Promise<FakeOpenAI> {
  const queue: Script[] = [];
  const requests: RecordedRequest[] = [];
  let defaultScript: Script = options.defaultScript ?? textResponse("Hello from the fake model.");
  // Hanging and stalled responses wait on this so close() can release them.
  const closing = Promise.withResolvers<void>();

  const server: Server<undefined> = Bun.serve({
    port: 0,
    hostname: "127.0.0.1",
    // A hang must stay a hang however long a test waits; Bun would otherwise drop idle sockets.
    idleTimeout: 0,
    async fetch(request) {
      const path = new URL(request.url).pathname;
      if (request.method !== "POST" || path !== "/v1/chat/completions") {
        return Response.json({ error: { message: `fake has no ${request.method} ${path}`, type: "not_found" } }, { status: 404 });
      }
      const recorded: RecordedRequest = {
        body: (await request.json()) as ChatCompletionBody,
        headers: Object.fromEntries(request.headers),
        aborted: false,
        completed: false,
      };
      requests.push(recorded);
      const clientGone = Promise.withResolvers<void>();
      request.signal.addEventListener("abort", () => {
        if (!recorded.completed) recorded.aborted = true;
        clientGone.resolve();
      });
      const script = queue.shift() ?? defaultScript;
      const response = typeof script === "function" ? script(recorded) : script;
      const released = Promise.race([clientGone.promise, closing.promise]);
      return respond(response, recorded, released);
    },
  });

  return {
    url: `http://localhost:${server.port}/v1`,
    port: server.port ?? 0,
    requests,
    enqueue: (...scripts) => void queue.push(...scripts),
    setDefault: (script) => void (defaultScript = script),
    pendingScripts: () => queue.length,
    async waitForRequests(count, timeoutMs) {
      await waitFor(() => requests.length >= count, `${count} request(s) at the fake OpenAI server`, { timeoutMs });
      return requests;
    },
    async close() {
      closing.resolve();
      await server.stop(true);
    },
  };
}

async function respond(response: ScriptedResponse, recorded: RecordedRequest, released: Promise<void>): Promise<Response> {
  if (response.kind === "hang") {
    await released;
    return new Response(null, { status: 499 });
  }
  if (response.kind === "error") {
    recorded.completed = true;
    const body = response.body ?? { error: { message: `fake error ${response.status}`, type: "fake_error", code: null } };
    return Response.json(body, { status: response.status, headers: response.headers });
  }
  if (recorded.body.stream !== true) {
    recorded.completed = true;
    return Response.json({ error: { message: "the fake only answers stream: true", type: "invalid_request_error" } }, { status: 400 });
  }
  return new Response(sseBody(response, recorded, released), {
    headers: { "content-type": "text/event-stream", "cache-control": "no-cache" },
  });
}

function sseBody(script: StreamScript, recorded: RecordedRequest, released: Promise<void>): ReadableStream<Uint8Array> {
  const encoder = new TextEncoder();
  const includeUsage = recorded.body.stream_options?.include_usage === true;
  const lines = script.steps.flatMap((step) => {
    const data = chunkData(step, recorded.body.model, includeUsage);
    return data === undefined ? [] : [data];
  });
  let next = 0;
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      if (next < lines.length) {
        if (script.delayMs) await Bun.sleep(script.delayMs);
        controller.enqueue(encoder.encode(`data: ${lines[next++]}\n\n`));
        return;
      }
      const ending = script.ending ?? "done";
      if (ending === "stall") await released;
      recorded.completed = true;
      if (ending === "cut") {
        // Bun discards chunks still queued when a stream errors; give them time to reach the socket.
        await Bun.sleep(20);
        // Erroring with no reason drops the connection without Bun printing the error.
        return controller.error();
      }
      if (ending === "done") controller.enqueue(encoder.encode("data: [DONE]\n\n"));
      controller.close();
    },
  });
}

let chunkCounter = 0;

function chunkData(step: StreamStep, model: string, includeUsage: boolean): string | undefined {
  if (step.type === "raw") return step.data;
  if (step.type === "usage" && !includeUsage) return undefined;
  const chunk = { id: `chatcmpl-fake-${++chunkCounter}`, object: "chat.completion.chunk", created: Math.floor(Date.now() / 1000), model };
  if (step.type === "usage") return JSON.stringify({ ...chunk, choices: [], usage: step.usage });
  const choice = (delta: Record<string, unknown>, finishReason: string | null = null) => ({ index: 0, delta, logprobs: null, finish_reason: finishReason });
  switch (step.type) {
    case "role":
      return JSON.stringify({ ...chunk, choices: [choice({ role: "assistant", content: "" })] });
    case "content":
      return JSON.stringify({ ...chunk, choices: [choice({ content: step.text })] });
    case "reasoning":
      return JSON.stringify({ ...chunk, choices: [choice({ [step.field ?? "reasoning_content"]: step.text })] });
    case "tool-calls":
      return JSON.stringify({ ...chunk, choices: [choice({ tool_calls: step.fragments.map(toolCallDelta) })] });
    case "finish": {
      const usage = includeUsage && step.usage ? { usage: step.usage } : {};
      return JSON.stringify({ ...chunk, choices: [choice({}, step.reason)], ...usage });
    }
  }
}

function toolCallDelta(fragment: ToolCallFragment): Record<string, unknown> {
  const opening = fragment.id !== undefined || fragment.name !== undefined;
  const fn: Record<string, string> = {};
  if (fragment.name !== undefined) fn.name = fragment.name;
  if (fragment.arguments !== undefined) fn.arguments = fragment.arguments;
  return {
    index: fragment.index,
    ...(fragment.id !== undefined ? { id: fragment.id } : {}),
    ...(opening ? { type: "function" } : {}),
    function: fn,
  };
}
