// Folds the chunks of one streamed Chat Completions turn into text and reasoning events, then the
// turn's tool calls, usage and finish reason.

import type { ChatCompletionChunk } from "openai/resources/chat/completions";
import type { ModelEvent, ModelToolCall, ModelUsage } from "./model-client.ts";

type Delta = ChatCompletionChunk.Choice.Delta;
type ToolCallDelta = NonNullable<Delta["tool_calls"]>[number];

/** Reasoning fields that compatible providers add to the delta: DeepSeek and vLLM, then Ollama, Groq, OpenRouter. */
interface ReasoningDelta {
  reasoning_content?: unknown;
  reasoning?: unknown;
}

interface PartialToolCall {
  index: number;
  /** Arrival order, to keep two calls that share an index apart. */
  order: number;
  id: string | undefined;
  name: string;
  arguments: string;
}

export class TurnAssembler {
  private readonly toolCalls: PartialToolCall[] = [];
  private readonly openCalls = new Map<number, PartialToolCall>();
  private usage: ModelUsage | undefined;
  private finishReason: string | undefined;

  /** Whether the provider said why the turn ended; a stream that stops without it was cut. */
  get finished(): boolean {
    return this.finishReason !== undefined;
  }

  /** The events one chunk carries, in order: most chunks carry one text delta. An array, not a generator: this runs for every token. */
  add(chunk: ChatCompletionChunk): ModelEvent[] {
    const events: ModelEvent[] = [];
    // Usage usually comes on a last chunk with no choices, but some providers put it on the finish chunk.
    if (chunk.usage) this.usage = { prompt_tokens: chunk.usage.prompt_tokens ?? 0, completion_tokens: chunk.usage.completion_tokens ?? 0 };
    for (const choice of chunk.choices ?? []) {
      if ((choice.index ?? 0) !== 0) continue;
      const delta: Delta & ReasoningDelta = choice.delta ?? {};
      // Some servers send both fields with the same text; the first one present wins.
      const reasoning = delta.reasoning_content ?? delta.reasoning;
      if (typeof reasoning === "string" && reasoning !== "") events.push({ type: "reasoning", delta: reasoning });
      if (typeof delta.content === "string" && delta.content !== "") events.push({ type: "text", delta: delta.content });
      if (delta.tool_calls) for (const [position, fragment] of delta.tool_calls.entries()) this.addToolCall(fragment, position);
      if (choice.finish_reason) this.finishReason = choice.finish_reason;
    }
    return events;
  }

  end(): Extract<ModelEvent, { type: "end" }> {
    const ordered = [...this.toolCalls].sort((first, second) => first.index - second.index || first.order - second.order);
    const toolCalls = ordered.map(
      (call): ModelToolCall => ({
        id: call.id ?? `call_${call.index}_${crypto.randomUUID().replaceAll("-", "").slice(0, 12)}`,
        type: "function",
        // Providers stream "" for a call without arguments; "{}" is what the tool and the next request expect.
        function: { name: call.name, arguments: call.arguments === "" ? "{}" : call.arguments },
      }),
    );
    return { type: "end", toolCalls, usage: this.usage, finishReason: this.finishReason };
  }

  private addToolCall(fragment: ToolCallDelta, position: number): void {
    const index = typeof fragment.index === "number" ? fragment.index : position;
    let call = this.openCalls.get(index);
    // Some providers number every parallel call 0; a new id at a used index starts a new call.
    if (call && fragment.id && call.id && fragment.id !== call.id) call = undefined;
    if (!call) {
      call = { index, order: this.toolCalls.length, id: undefined, name: "", arguments: "" };
      this.toolCalls.push(call);
      this.openCalls.set(index, call);
    }
    if (fragment.id) call.id ??= fragment.id;
    if (fragment.function?.name) call.name = fragment.function.name;
    if (fragment.function?.arguments) call.arguments += fragment.function.arguments;
  }
}
