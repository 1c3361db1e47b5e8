// The `search_history` tool: full-text search over the caller's own stored messages, returned as citations.

import { Type } from "@sinclair/typebox";
import type { SearchHit } from "../../../storage/storage.ts";
import { defineTool, type Source } from "../tool.ts";

export const SEARCH_HISTORY_LIMIT = 8;
const UNTITLED_THREAD = "Untitled thread";

export const searchHistoryTool = defineTool({
  name: "search_history",
  description:
    "Searches the user's earlier conversations (their own stored messages, across all threads) by keywords " +
    "and returns the best matching messages with their thread titles.",
  parameters: Type.Object({
    query: Type.String({ minLength: 1, maxLength: 500, description: "Keywords to look for" }),
  }),
  async execute(args, context) {
    context.signal.throwIfAborted();
    // The owner comes from the run, never from the model, so a prompt cannot reach another user's messages.
    const hits = await context.storage.searchMessages(context.userId, args.query, SEARCH_HISTORY_LIMIT);
    context.signal.throwIfAborted();
    if (hits.length === 0) return { result: "no messages matched" };
    return { result: describeHits(hits), sources: hits.map(toSource) };
  },
});

function threadTitle(hit: SearchHit): string {
  return hit.threadTitle.trim() || UNTITLED_THREAD;
}

function toSource(hit: SearchHit): Source {
  return { id: hit.messageId, title: threadTitle(hit), snippet: hit.snippet };
}

function describeHits(hits: SearchHit[]): string {
  const lines = hits.map(
    (hit, index) =>
      `${index + 1}. thread "${threadTitle(hit)}" (thread_id ${hit.threadId}), ${hit.role} message ${hit.messageId} ` +
      `at ${hit.createdAt.toISOString()}: ${oneLine(hit.snippet)}`,
  );
  return [`${hits.length} ${hits.length === 1 ? "message" : "messages"} matched:`, ...lines].join("\n");
}

// Snippets may span paragraphs; one line per match keeps the listing readable for the model.
function oneLine(text: string): string {
  return text.replace(/\s+/g, " ").trim();
}
