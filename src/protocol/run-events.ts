// The payload of every run event published on a `thread:<id>` channel (PROTOCOL.md section 6).

import { Type, type Static } from "@sinclair/typebox";

export const RunEventStatus = Type.Union(
  ["started", "processing", "awaiting_approval", "rejected", "done", "failed", "responding", "in_progress", "completed", "cancelled", "error"].map(
    (status) => Type.Literal(status),
  ),
);
export type RunEventStatus = "started" | "processing" | "awaiting_approval" | "rejected" | "done" | "failed" | "responding" | "in_progress" | "completed" | "cancelled" | "error";

export type RunEventType = "status" | "tool" | "reasoning" | "sources" | "response" | "error";

export const ToolCallView = Type.Object({
  call_id: Type.String(),
  name: Type.String(),
  arguments: Type.Unknown(),
  result: Type.Optional(Type.String()),
  error: Type.Optional(Type.String()),
});
export type ToolCallView = Static<typeof ToolCallView>;

export const SourceView = Type.Object({
  id: Type.String(),
  title: Type.String(),
  url: Type.Optional(Type.String()),
  snippet: Type.Optional(Type.String()),
});
export type SourceView = Static<typeof SourceView>;

export const UsageView = Type.Object({ prompt_tokens: Type.Number(), completion_tokens: Type.Number() });
export type UsageView = Static<typeof UsageView>;

export const RunEventPayload = Type.Object({
  message: Type.String(),
  timestamp: Type.Number(),
  status: RunEventStatus,
  type: Type.Union(["status", "tool", "reasoning", "sources", "response", "error"].map((type) => Type.Literal(type))),
  final_message: Type.Boolean(),
  message_id: Type.String(),
  thread_id: Type.String(),
  tool: Type.Optional(ToolCallView),
  sources: Type.Optional(Type.Array(SourceView)),
  usage: Type.Optional(UsageView),
  error_details: Type.Optional(Type.Unknown()),
});
export interface RunEventPayload {
  message: string;
  timestamp: number;
  status: RunEventStatus;
  type: RunEventType;
  final_message: boolean;
  message_id: string;
  thread_id: string;
  tool?: ToolCallView;
  sources?: SourceView[];
  usage?: UsageView;
  error_details?: unknown;
}

/** The ack of a chat `send` (and the body of `POST /threads/:id/messages`): PROTOCOL.md sections 6 and 7. */
export interface RunAccepted {
  status: "accepted";
  thread_id: string;
  user_message_id: string;
  message_id: string;
  channel: string;
}
