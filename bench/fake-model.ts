// An OpenAI-compatible streaming model inside the bench process: answers at a fixed token rate and notes when each token left.

import type { Server } from "bun";

export interface FakeAnswer {
  tokens: string[];
  /** performance.now() when each token's chunk was handed to the HTTP response; NaN until then. */
  emittedAt: Float64Array;
}

export interface FakeModel {
  /** Base URL for OPENAI_BASE_URL. */
  readonly url: string;
  /** What the request whose last user message is `prompt` streams; a prompt not registered gets a 400. */
  register(prompt: string, tokens: string[]): FakeAnswer;
  forget(prompt: string): void;
  /** Answers being streamed right now. */
  readonly openStreams: number;
  /** The most answers streamed at once since the last call; starts over from the current count. */
  takePeakStreams(): number;
  /** Requests for prompts nobody registered: each one is a run the bench cannot check. */
  readonly unknownPrompts: number;
  close(): Promise<void>;
}

interface ChatRequest {
  model?: string;
  messages?: Array<{ role?: string; content?: unknown }>;
}

const encoder = new TextEncoder();

function chunk(delta: Record<string, unknown>, finishReason: string | null = null): Uint8Array {
  const body = { id: "chatcmpl-bench", object: "chat.completion.chunk", created: 0, model: "bench-fixed-rate", choices: [{ index: 0, delta, finish_reason: finishReason }] };
  return encoder.encode(`data: ${JSON.stringify(body)}\n\n`);
}

const ROLE_CHUNK = chunk({ role: "assistant", content: "" });
const FINISH_CHUNK = chunk({}, "stop");
const DONE_CHUNK = encoder.encode("data: [DONE]\n\n");

function usageChunk(completionTokens: number): Uint8Array {
  const body = { id: "chatcmpl-bench", object: "chat.completion.chunk", created: 0, model: "bench-fixed-rate", choices: [], usage: { prompt_tokens: 10, completion_tokens: completionTokens } };
  return encoder.encode(`data: ${JSON.stringify(body)}\n\n`);
}

/**
 * `answerAny`: what a prompt nobody registered streams instead of a 400, for programs that measure the
 * client side alone and check no text.
 */
export function startFakeModel(tokensPerSecond: number, answerAny?: (prompt: string) => string[]): FakeModel {
  const intervalMs = 1000 / tokensPerSecond;
  const answers = new Map<string, FakeAnswer>();
  let openStreams = 0;
  let peakStreams = 0;
  let unknownPrompts = 0;

  const stream = (answer: FakeAnswer, clientGone: AbortSignal): ReadableStream<Uint8Array> => {
    let next = -1;
    let startedAt = 0;
    let ended = false;
    const end = () => {
      if (ended) return;
      ended = true;
      openStreams--;
    };
    openStreams++;
    peakStreams = Math.max(peakStreams, openStreams);
    clientGone.addEventListener("abort", end, { once: true });
    return new ReadableStream<Uint8Array>({
      async pull(controller) {
        if (next < 0) {
          next = 0;
          startedAt = performance.now();
          controller.enqueue(ROLE_CHUNK);
          return;
        }
        if (next < answer.tokens.length) {
          // Each token is due at a fixed offset from the start, so a late timer is caught up, never carried over.
          const wait = startedAt + (next + 1) * intervalMs - performance.now();
          if (wait > 0) await Bun.sleep(wait);
          if (ended) return controller.close();
          answer.emittedAt[next] = performance.now();
          controller.enqueue(chunk({ content: answer.tokens[next] }));
          next++;
          return;
        }
        controller.enqueue(FINISH_CHUNK);
        controller.enqueue(usageChunk(answer.tokens.length));
        controller.enqueue(DONE_CHUNK);
        controller.close();
        end();
      },
      cancel: end,
    });
  };

  const server: Server<undefined> = Bun.serve({
    port: 0,
    hostname: "127.0.0.1",
    // A long answer streams for seconds between chunks only under heavy load; never cut it for idleness.
    idleTimeout: 0,
    async fetch(request) {
      const path = new URL(request.url).pathname;
      if (request.method !== "POST" || path !== "/v1/chat/completions") return new Response("not found", { status: 404 });
      const body = (await request.json()) as ChatRequest;
      const prompt = body.messages?.findLast((message) => message.role === "user")?.content;
      let answer = typeof prompt === "string" ? answers.get(prompt) : undefined;
      if (!answer && answerAny && typeof prompt === "string") {
        const tokens = answerAny(prompt);
        answer = { tokens, emittedAt: new Float64Array(tokens.length).fill(Number.NaN) };
      }
      if (!answer) {
        unknownPrompts++;
        return Response.json({ error: { message: "the bench registered no answer for this prompt", type: "invalid_request_error" } }, { status: 400 });
      }
      return new Response(stream(answer, request.signal), { headers: { "content-type": "text/event-stream", "cache-control": "no-cache" } });
    },
  });

  return {
    url: `http://127.0.0.1:${server.port}/v1`,
    register(prompt, tokens) {
      const answer = { tokens, emittedAt: new Float64Array(tokens.length).fill(Number.NaN) };
      answers.set(prompt, answer);
      return answer;
    },
    forget: (prompt) => void answers.delete(prompt),
    get openStreams() {
      return openStreams;
    },
    takePeakStreams() {
      const peak = peakStreams;
      peakStreams = openStreams;
      return peak;
    },
    get unknownPrompts() {
      return unknownPrompts;
    },
    async close() {
      await server.stop(true);
    },
  };
}
