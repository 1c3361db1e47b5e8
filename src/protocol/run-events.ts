// The payload of every run event published on a `thread:<id>` channel (docs/protocol.md section 6.2).

import { Type, type Static } from "@sinclair/typebox";
import { literalUnion } from "./literal-union.ts";

/** The statuses of `tool` events, also stored with each call of a message's `tool_calls`. */
export const ToolCallStatus = literalUnion("processing", "awaiting_approval", "rejected", "done", "failed");
export type ToolCallStatus = Static<typeof ToolCallStatus>;

export const RunEventStatus = literalUnion(
  "started",
  "processing",
  "awaiting_approval",
  "rejected",
  "done",
  "failed",
  "responding",
  "in_progress",
  "completed",
  "cancelled",
  "error",
);
export type RunEventStatus = Static<typeof RunEventStatus>;

export const RunEventType = literalUnion("status", "tool", "reasoning", "sources", "response", "error");
export type RunEventType = Static<typeof RunEventType>;

export const ToolCallView = Type.Object({
  call_id: Type.String(),
  name: Type.String(),
  /** The parsed arguments, or the raw text when it is not JSON. */
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
  /** Seconds since epoch, float. */
  timestamp: Type.Number(),
  status: RunEventStatus,
  type: RunEventType,
  final_message: Type.Boolean(),
  message_id: Type.String(),
  thread_id: Type.String(),
  tool: Type.Optional(ToolCallView),
  sources: Type.Optional(Type.Array(SourceView)),
  usage: Type.Optional(UsageView),
  /** On `error/error`: a small object such as `{"kind":"run_timeout"}`. */
  error_details: Type.Optional(Type.Unknown()),
});
export type RunEventPayload = Static<typeof RunEventPayload>;
