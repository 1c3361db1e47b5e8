// The small interface the run engine drives: one streamed model turn. The OpenAI client, the demo
// model and test doubles implement it.

export type ModelMessage =
  | { role: "system"; content: string }
  | { role: "user"; content: string }
  | { role: "assistant"; content: string | null; tool_calls?: ModelToolCall[] }
  | { role: "tool"; tool_call_id: string; content: string };

/** A tool call in the Chat Completions shape; `arguments` is the raw JSON text the model wrote. */
export interface ModelToolCall {
  id: string;
  type: "function";
  function: { name: string; arguments: string };
}

export interface ModelTool {
  name: string;
  description: string;
  /** JSON Schema of the arguments object. */
  parameters: Record<string, unknown>;
}

export interface ModelRequest {
  messages: ModelMessage[];
  tools: ModelTool[];
}

export interface ModelUsage {
  prompt_tokens: number;
  completion_tokens: number;
}

/** What one turn streams: deltas as they come, then exactly one `end` (unless it throws). */
export type ModelEvent =
  | { type: "text"; delta: string }
  | { type: "reasoning"; delta: string }
  | { type: "end"; toolCalls: ModelToolCall[]; usage: ModelUsage | undefined; finishReason: string | undefined };

export interface ModelClient {
  /** A label for logs and the demo notice: "openai:gpt-4o-mini", "demo". */
  readonly name: string;
  /**
   * Streams one model turn. Aborting `signal` ends the stream early (the iterator returns without
   * `end`). Failures throw ModelError with a message safe to show to users.
   */
  stream(request: ModelRequest, signal: AbortSignal): AsyncIterable<ModelEvent>;
}

/** A model failure whose message names what failed and never carries keys or request bodies. */
export class ModelError extends Error {
  override readonly name = "ModelError";
  constructor(
    message: string,
    readonly details: { status?: number; attempts?: number; kind: "http" | "connection" | "timeout" | "protocol" },
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}
