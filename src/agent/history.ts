// The conversation sent to the model: the system prompt, then as much of the thread as fits the budget.

import type { Message } from "../storage/storage.ts";
import type { ModelMessage } from "./model/model-client.ts";

/**
 * Builds the model's messages from a thread's stored messages (oldest first, the new user message
 * last). Earlier turns are dropped oldest first once their text passes `budgetChars`; the newest user
 * message is always sent. Tool traffic of earlier runs is not replayed, only what was said.
 */
export function modelMessages(systemPrompt: string, history: Message[], budgetChars: number): ModelMessage[] {
  // A run that continues after a client's tool results (AG-UI front-end tools) has no new user message:
  // the thread ends with the assistant's tool calls, which are replayed with their results.
  const last = history[history.length - 1];
  if (last?.role === "assistant" && Array.isArray(last.toolCalls) && last.toolCalls.length > 0) {
    const earlier = modelMessages("", history.slice(0, -1), Math.max(0, budgetChars - last.content.length));
    const replayed = toolExchange(last);
    return systemPrompt ? [{ role: "system", content: systemPrompt }, ...earlier, ...replayed] : [...earlier, ...replayed];
  }
  const turns: ModelMessage[] = [];
  let used = 0;
  for (let i = history.length - 1; i >= 0; i--) {
    const message = history[i]!;
    const content = message.content;
    if (content.length === 0) continue;
    const isNewest = turns.length === 0;
    if (!isNewest && used + content.length > budgetChars) break;
    used += content.length;
    turns.push(message.role === "user" ? { role: "user", content } : { role: "assistant", content });
  }
  turns.reverse();
  // A conversation for the model starts with the user; drop a leading assistant turn cut off by the budget.
  while (turns.length > 1 && turns[0]!.role === "assistant") turns.shift();
  return systemPrompt ? [{ role: "system", content: systemPrompt }, ...turns] : turns;
}

interface StoredCall {
  call_id: string;
  name: string;
  arguments?: unknown;
  result?: string;
  error?: string;
  status?: string;
}

/** An assistant message's tool calls and their results, as the model saw them. */
function toolExchange(message: Message): ModelMessage[] {
  const calls = message.toolCalls as StoredCall[];
  return [
    {
      role: "assistant",
      content: message.content || null,
      tool_calls: calls.map((call) => ({
        id: call.call_id,
        type: "function" as const,
        function: { name: call.name, arguments: typeof call.arguments === "string" ? call.arguments : JSON.stringify(call.arguments ?? {}) },
      })),
    },
    ...calls.map((call): ModelMessage => ({
      role: "tool",
      tool_call_id: call.call_id,
      content: call.status === "done" ? (call.result ?? "") : `Error: ${call.error ?? "the tool call did not finish"}`,
    })),
  ];
}

/** A thread title from its first message: one line, at most 80 characters. */
export function titleFrom(content: string): string {
  const line = content.replace(/\s+/g, " ").trim();
  return line.length <= 80 ? line : line.slice(0, 79).trimEnd() + "…";
}
