// The conversation sent to the model: the system prompt, then as much of the thread as fits the budget.

import type { Message } from "../storage/storage.ts";
import type { ModelMessage } from "./model/model-client.ts";

/**
 * Builds the model's messages from a thread's stored messages (oldest first, the new user message
 * last). Earlier turns are dropped oldest first once their text passes `budgetChars`; the newest user
 * message is always sent. Tool traffic of earlier runs is not replayed, only what was said.
 */
export function modelMessages(systemPrompt: string, history: Message[], budgetChars: number): ModelMessage[] {
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

/** A thread title from its first message: one line, at most 80 characters. */
export function titleFrom(content: string): string {
  const line = content.replace(/\s+/g, " ").trim();
  return line.length <= 80 ? line : line.slice(0, 79).trimEnd() + "…";
}
