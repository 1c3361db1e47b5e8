// The ModelClient for any OpenAI-compatible Chat Completions endpoint, streamed through the official
// `openai` package with our own retries and a time limit on the whole turn.

import OpenAI, { APIConnectionError, APIConnectionTimeoutError, APIError } from "openai";
import type { ChatCompletionCreateParamsStreaming, ChatCompletionMessageParam } from "openai/resources/chat/completions";
import type { Logger } from "../../observability/log.ts";
import { ModelError, type ModelClient, type ModelEvent, type ModelMessage, type ModelRequest } from "./model-client.ts";
import { TurnAssembler } from "./turn-assembler.ts";

export interface OpenAIModelOptions {
  /** Unset: the OpenAI API. */
  baseURL?: string;
  /** Unset: no key, for local providers (Ollama, vLLM) that need none. */
  apiKey?: string;
  model: string;
  /** Retries after the first attempt, only before anything was streamed. */
  maxRetries: number;
  /** Full-jitter backoff base: retry n waits random(0, retryBaseMs * 2^n). */
  retryBaseMs: number;
  /** Limit on the whole turn: every attempt, the waits between them and the streaming. */
  requestTimeoutMs: number;
  logger?: Logger;
}

const maxRetryDelayMs = 30_000;

export function createOpenAIModel(options: OpenAIModelOptions): ModelClient {
  const client = new OpenAI({
    baseURL: options.baseURL,
    // The SDK refuses to start without a key and would otherwise read OPENAI_API_KEY behind the
    // config's back; without one, the placeholder is never sent (the header is removed below).
    apiKey: options.apiKey || "unset",
    defaultHeaders: options.apiKey ? {} : { authorization: null },
    organization: null,
    project: null,
    maxRetries: 0,
    // Covers only the wait for headers; the turn's own limit below covers the streaming too.
    timeout: options.requestTimeoutMs,
    logLevel: "off",
  });
  const host = hostOf(client.baseURL);
  const logger = options.logger?.child({ model: `openai:${options.model}`, host });
  return {
    name: `openai:${options.model}`,
    stream: (request, signal) => streamTurn(client, { ...options, host, logger }, request, signal),
  };
}

interface TurnSettings extends OpenAIModelOptions {
  host: string;
}

async function* streamTurn(client: OpenAI, settings: TurnSettings, request: ModelRequest, callerSignal: AbortSignal): AsyncGenerator<ModelEvent> {
  const timeoutSignal = AbortSignal.timeout(settings.requestTimeoutMs);
  const signal = AbortSignal.any([callerSignal, timeoutSignal]);
  const body = requestBody(settings.model, request);
  for (let attempt = 1; ; attempt++) {
    if (callerSignal.aborted) return;
    if (timeoutSignal.aborted) throw timeoutError(settings, attempt - 1);
    const turn = new TurnAssembler();
    let streamed = false;
    try {
      const stream = await client.chat.completions.create(body, { signal });
      // The SDK ends this loop quietly, without throwing, when `signal` aborts.
      for await (const chunk of stream) {
        for (const event of turn.add(chunk)) {
          streamed = true;
          yield event;
        }
      }
      if (signal.aborted) throw signal.reason;
      if (!turn.finished) {
        throw new ModelError(`the model provider at ${settings.host} ended the stream before the answer was finished`, {
          kind: "protocol",
          attempts: attempt,
        });
      }
      yield turn.end();
      return;
    } catch (error) {
      if (callerSignal.aborted) return;
      if (timeoutSignal.aborted) throw timeoutError(settings, attempt, error);
      const failure = classify(error, settings, attempt, streamed);
      if (!failure.retryable || streamed || attempt > settings.maxRetries) throw failure.error;
      const delayMs = failure.retryAfterMs ?? Math.random() * settings.retryBaseMs * 2 ** (attempt - 1);
      settings.logger?.warn("model request failed, retrying", {
        attempt,
        status: failure.error.details.status,
        kind: failure.error.details.kind,
        delayMs: Math.round(Math.min(delayMs, maxRetryDelayMs)),
      });
      await sleep(Math.min(delayMs, maxRetryDelayMs), signal);
    }
  }
}

interface Failure {
  error: ModelError;
  retryable: boolean;
  retryAfterMs?: number;
}

/** Turns whatever the SDK or the stream threw into a ModelError safe to show, and says whether to retry. */
function classify(error: unknown, settings: TurnSettings, attempt: number, streamed: boolean): Failure {
  const tried = `after ${attempt} attempt${attempt === 1 ? "" : "s"}`;
  if (error instanceof ModelError) return { error, retryable: false };
  if (error instanceof APIConnectionTimeoutError) return { error: timeoutError(settings, attempt, error), retryable: false };
  if (error instanceof APIConnectionError) {
    const message = `could not reach the model provider at ${settings.host} ${tried}`;
    return { error: new ModelError(message, { kind: "connection", attempts: attempt }, { cause: error }), retryable: true };
  }
  if (error instanceof APIError && typeof error.status === "number") {
    const status = error.status;
    const retryable = status === 408 || status === 429 || status >= 500;
    const reason = providerReason(status, error, settings.apiKey);
    const outcome = retryable ? `answered ${status} ${tried}` : `rejected the request with ${status}`;
    const message = `the model provider at ${settings.host} ${outcome}${reason ? `: ${reason}` : ""}`;
    const details = { kind: "http" as const, status, attempts: attempt };
    return { error: new ModelError(message, details, { cause: error }), retryable, retryAfterMs: retryAfterMs(error.headers) };
  }
  if (error instanceof APIError) {
    // An `error` object inside the SSE stream: the provider gave up after answering 200.
    const reason = providerMessage(error, settings.apiKey);
    const message = `the model provider at ${settings.host} reported an error in the stream${reason ? `: ${reason}` : ""}`;
    return { error: new ModelError(message, { kind: "protocol", attempts: attempt }, { cause: error }), retryable: false };
  }
  if (error instanceof SyntaxError) {
    const message = `the model provider at ${settings.host} sent a stream chunk that is not valid JSON`;
    return { error: new ModelError(message, { kind: "protocol", attempts: attempt }, { cause: error }), retryable: false };
  }
  // fetch reports a connection dropped while reading the body as a TypeError (ECONNRESET, "terminated").
  const message = streamed
    ? `the connection to the model provider at ${settings.host} broke off in the middle of the answer`
    : `the connection to the model provider at ${settings.host} broke off ${tried}`;
  return { error: new ModelError(message, { kind: "connection", attempts: attempt }, { cause: error }), retryable: true };
}

function timeoutError(settings: TurnSettings, attempts: number, cause?: unknown): ModelError {
  const message = `the model provider at ${settings.host} did not finish answering within ${settings.requestTimeoutMs} ms`;
  return new ModelError(message, { kind: "timeout", attempts }, { cause });
}

function providerReason(status: number, error: APIError, apiKey: string | undefined): string | undefined {
  // Providers echo part of a wrong key in 401 messages, so those get a fixed reason.
  if (status === 401) return "the API key was not accepted";
  if (status === 403) return "access denied";
  return providerMessage(error, apiKey);
}

/** The provider's own explanation, cut short, with anything that looks like a credential removed. */
function providerMessage(error: APIError, apiKey: string | undefined): string | undefined {
  const message = (error.error as { message?: unknown } | undefined)?.message;
  if (typeof message !== "string" || message.trim() === "") return undefined;
  let safe = apiKey ? message.split(apiKey).join("[redacted]") : message;
  safe = safe.replace(/\b(sk|gsk|xai|pk)-[\w*.-]{6,}/g, "[redacted]").replace(/Bearer\s+\S+/gi, "Bearer [redacted]");
  return safe.length > 200 ? `${safe.slice(0, 200)}…` : safe;
}

/** `retry-after-ms`, or `Retry-After` in seconds or as an HTTP date. */
function retryAfterMs(headers: Headers | undefined): number | undefined {
  const milliseconds = headers?.get("retry-after-ms");
  if (milliseconds && Number.isFinite(Number(milliseconds))) return Math.max(0, Number(milliseconds));
  const value = headers?.get("retry-after")?.trim();
  if (!value) return undefined;
  if (/^\d+(\.\d+)?$/.test(value)) return Number(value) * 1000;
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - Date.now());
}

function sleep(milliseconds: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const finish = () => {
      clearTimeout(timer);
      signal.removeEventListener("abort", finish);
      resolve();
    };
    const timer = setTimeout(finish, milliseconds);
    signal.addEventListener("abort", finish, { once: true });
  });
}

function requestBody(model: string, request: ModelRequest): ChatCompletionCreateParamsStreaming {
  const tools = request.tools.map((tool) => ({
    type: "function" as const,
    function: { name: tool.name, description: tool.description, parameters: tool.parameters },
  }));
  return {
    model,
    messages: request.messages.map(toProviderMessage),
    ...(tools.length > 0 ? { tools } : {}),
    stream: true,
    stream_options: { include_usage: true },
  };
}

function toProviderMessage(message: ModelMessage): ChatCompletionMessageParam {
  // OpenAI rejects an empty tool_calls array, so an assistant turn without calls leaves it out.
  if (message.role === "assistant" && message.tool_calls?.length === 0) return { role: "assistant", content: message.content };
  return message;
}

function hostOf(baseURL: string): string {
  try {
    return new URL(baseURL).host;
  } catch {
    return "the configured base URL";
  }
}
