// Builders for the fake OpenAI server's scripted responses; import them from fake-openai.ts.

import type { FakeUsage, ReasoningField, ScriptedResponse, StreamEnding, StreamScript, StreamStep, ToolCallFragment } from "./fake-openai.ts";

export const DEFAULT_USAGE: FakeUsage = { prompt_tokens: 10, completion_tokens: 5 };

export interface StreamOptions {
  /** Pause before each chunk, for slow streams. */
  delayMs?: number;
  /** Default `done`. */
  ending?: StreamEnding;
}

interface TurnOptions extends StreamOptions {
  /** Default DEFAULT_USAGE; `null` sends no usage at all. */
  usage?: FakeUsage | null;
  /** Put usage on the finish chunk, as some providers do, instead of a final chunk with no choices. */
  usageOnFinishChunk?: boolean;
  finishReason?: string;
}

export interface TextResponseOptions extends TurnOptions {
  /** Characters per content delta; default 4. */
  chunkSize?: number;
  /** Reasoning streamed before the text, in deltas of `chunkSize`. */
  reasoning?: string;
  /** Default `reasoning_content` (DeepSeek, vLLM); `reasoning` is what Ollama, Groq and OpenRouter send. */
  reasoningField?: ReasoningField;
}

export interface FakeToolCall {
  /** Undefined: a generated id. `null`: no id at all, as some providers stream. */
  id?: string | null;
  name: string;
  /** An object is sent as its JSON text. */
  arguments: string | Record<string, unknown>;
}

export interface ToolCallResponseOptions extends TurnOptions {
  /** Split each call's arguments into fragments of this many characters (`true`: 3). */
  splitArguments?: boolean | number;
  /** Alternate the calls' fragments, as providers streaming parallel calls may. */
  interleave?: boolean;
  /** Content streamed before the calls. */
  text?: string;
}

/** A stream of exactly these chunks. */
export function streamResponse(steps: StreamStep[], options: StreamOptions = {}): StreamScript {
  return { kind: "stream", steps, ...options };
}

/** An answer streamed as role, (reasoning,) content deltas, finish `stop` and usage. */
export function textResponse(text: string, options: TextResponseOptions = {}): StreamScript {
  const chunkSize = options.chunkSize ?? 4;
  const reasoning = options.reasoning ? splitText(options.reasoning, chunkSize) : [];
  const steps: StreamStep[] = [
    { type: "role" },
    ...reasoning.map((piece): StreamStep => ({ type: "reasoning", text: piece, field: options.reasoningField })),
    ...splitText(text, chunkSize).map((piece): StreamStep => ({ type: "content", text: piece })),
    ...closingSteps(options, "stop"),
  ];
  return streamResponse(steps, options);
}

let generatedIds = 0;

/** A turn that calls tools: optional text, then each call's opening fragment and argument fragments. */
export function toolCallResponse(calls: FakeToolCall[], options: ToolCallResponseOptions = {}): StreamScript {
  const fragmentSize = options.splitArguments === true ? 3 : options.splitArguments || Number.POSITIVE_INFINITY;
  const perCall = calls.map((call, index): ToolCallFragment[] => {
    const argumentsText = typeof call.arguments === "string" ? call.arguments : JSON.stringify(call.arguments);
    const id = call.id === null ? undefined : (call.id ?? `call_fake_${++generatedIds}`);
    const pieces = fragmentSize === Number.POSITIVE_INFINITY ? [argumentsText] : splitText(argumentsText, fragmentSize);
    // Like OpenAI: the opening fragment carries id and name with empty arguments.
    return [{ index, id, name: call.name, arguments: "" }, ...pieces.map((piece) => ({ index, arguments: piece }))];
  });
  const ordered = options.interleave ? roundRobin(perCall) : perCall.flat();
  const text = options.text ? splitText(options.text, 4).map((piece): StreamStep => ({ type: "content", text: piece })) : [];
  const steps: StreamStep[] = [
    { type: "role" },
    ...text,
    ...ordered.map((fragment): StreamStep => ({ type: "tool-calls", fragments: [fragment] })),
    ...closingSteps(options, "tool_calls"),
  ];
  return streamResponse(steps, options);
}

/** The response sent until `afterChunks` SSE chunks (role chunk included), then the connection drops. */
export function cutResponse(afterChunks: number, response: StreamScript = textResponse("This answer breaks off in the middle.")): StreamScript {
  return { ...response, steps: response.steps.slice(0, afterChunks), ending: "cut" };
}

/** An HTTP error with an OpenAI-style JSON body. */
export function errorResponse(
  status: number,
  options: { message?: string; body?: unknown; retryAfter?: string; headers?: Record<string, string> } = {},
): ScriptedResponse {
  const body = options.body ?? { error: { message: options.message ?? `fake error ${status}`, type: "fake_error", code: null } };
  const headers = { ...(options.retryAfter !== undefined ? { "retry-after": options.retryAfter } : {}), ...options.headers };
  return { kind: "error", status, body, headers };
}

/** Never answers, not even headers, until the client gives up. */
export function hangResponse(): ScriptedResponse {
  return { kind: "hang" };
}

function closingSteps(options: TurnOptions, defaultReason: string): StreamStep[] {
  const usage = options.usage === undefined ? DEFAULT_USAGE : options.usage;
  const reason = options.finishReason ?? defaultReason;
  if (usage === null) return [{ type: "finish", reason }];
  if (options.usageOnFinishChunk) return [{ type: "finish", reason, usage }];
  return [
    { type: "finish", reason },
    { type: "usage", usage },
  ];
}

function splitText(text: string, size: number): string[] {
  const pieces: string[] = [];
  for (let start = 0; start < text.length; start += size) pieces.push(text.slice(start, start + size));
  return pieces;
}

function roundRobin<T>(lists: T[][]): T[] {
  const result: T[] = [];
  const longest = Math.max(0, ...lists.map((list) => list.length));
  for (let position = 0; position < longest; position++) {
    for (const list of lists) {
      const item = list[position];
      if (item !== undefined) result.push(item);
    }
  }
  return result;
}
