// TypeBox schemas of the REST answers (docs/protocol.md section 7). `POST /threads/:id/messages` answers
// RunAccepted and every error is an ErrorPayload, both declared with the frames in server-frames.ts.

import { Type, type Static } from "@sinclair/typebox";
import { literalUnion } from "./literal-union.ts";
import { SourceView, ToolCallStatus, ToolCallView, UsageView } from "./run-events.ts";
import { ChannelName } from "./schemas.ts";
import { ChannelState } from "./server-frames.ts";

/** What a user may do with a thread (docs/protocol.md section 14): its owner, or a member it is shared with. */
export const ThreadRole = literalUnion("owner", "editor", "viewer");
export type ThreadRole = Static<typeof ThreadRole>;

/** The roles an owner gives members. */
export const MemberRole = literalUnion("editor", "viewer");
export type MemberRole = Static<typeof MemberRole>;

/** Most members a thread has: bounds the members list and the notices each change of the thread sends. */
export const MAX_THREAD_MEMBERS = 100;

export const ThreadView = Type.Object({
  id: Type.String(),
  title: Type.String(),
  /** ISO 8601. */
  created_at: Type.String(),
  updated_at: Type.String(),
  /** The caller's role, in `GET /threads`. */
  role: Type.Optional(ThreadRole),
});
export type ThreadView = Static<typeof ThreadView>;

/** A member of a shared thread. */
export const MemberView = Type.Object({ user: Type.String(), role: MemberRole, /** ISO 8601. */ added_at: Type.String() });
export type MemberView = Static<typeof MemberView>;

/** `GET /threads/:id/members`. */
export const MemberList = Type.Object({ members: Type.Array(MemberView) });
export type MemberList = Static<typeof MemberList>;

/** `GET /threads`: the caller's threads and those shared with it, most recently updated first. */
export const ThreadList = Type.Object({ threads: Type.Array(ThreadView) });
export type ThreadList = Static<typeof ThreadList>;

export const MessageRole = literalUnion("user", "assistant");
export type MessageRole = Static<typeof MessageRole>;

export const MessageStatus = literalUnion("completed", "streaming", "awaiting_approval", "cancelled", "error", "interrupted");
export type MessageStatus = Static<typeof MessageStatus>;

/** A tool call as stored with its message: the latest event's view of it, with that event's status. */
export const StoredToolCall = Type.Object({ ...ToolCallView.properties, status: ToolCallStatus });
export type StoredToolCall = Static<typeof StoredToolCall>;

/** Why a run ended in `error`; `details` as in the run's `error_details`. */
export const MessageError = Type.Object({ message: Type.String(), details: Type.Optional(Type.Unknown()) });
export type MessageError = Static<typeof MessageError>;

export const MessageView = Type.Object({
  id: Type.String(),
  role: MessageRole,
  /** For a message still streaming, the text produced so far. */
  content: Type.String(),
  status: MessageStatus,
  /** ISO 8601. */
  created_at: Type.String(),
  reasoning: Type.Optional(Type.String()),
  tool_calls: Type.Optional(Type.Array(StoredToolCall)),
  sources: Type.Optional(Type.Array(SourceView)),
  usage: Type.Optional(UsageView),
  error: Type.Optional(MessageError),
});
export type MessageView = Static<typeof MessageView>;

/** `GET /threads/:id/messages`: the messages and the position of the thread's channel they reflect; subscribe with `since: seq, epoch`. */
export const ThreadSnapshot = Type.Object({ messages: Type.Array(MessageView), ...ChannelState.properties });
export type ThreadSnapshot = Static<typeof ThreadSnapshot>;

/** `POST /publish`. */
export const PublishResult = Type.Object({ channel: ChannelName, seq: Type.Integer({ minimum: 1 }) });
export type PublishResult = Static<typeof PublishResult>;
