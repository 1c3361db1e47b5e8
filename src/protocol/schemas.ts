// TypeBox schemas of every client frame and payload; the types used across the server derive from them.

import { Type, type Static } from "@sinclair/typebox";
import { CHANNEL_PATTERN } from "./channels.ts";

export const ChannelName = Type.String({ pattern: CHANNEL_PATTERN });
export const RequestId = Type.String({ minLength: 1, maxLength: 64 });

/** The envelope every client frame must match; unknown fields are ignored. */
export const ClientEnvelope = Type.Object({
  channel: ChannelName,
  id: Type.Optional(RequestId),
  // Any object, typed as a record: Type.Record would compile to an Object.entries walk per frame, garbage
  // that shows in memory per connection, to accept every key anyway.
  payload: Type.Unsafe<Record<string, unknown>>(Type.Object({})),
});
export type ClientEnvelope = Static<typeof ClientEnvelope>;

export const AuthPayload = Type.Object({ token: Type.String({ minLength: 1, maxLength: 8192 }) });
export type AuthPayload = Static<typeof AuthPayload>;

export const SubscribePayload = Type.Object({
  action: Type.Literal("subscribe"),
  channel: ChannelName,
  since: Type.Optional(Type.Integer({ minimum: 0 })),
  epoch: Type.Optional(Type.String({ maxLength: 128 })),
  /** Also deliver the channel's presence frames (docs/protocol.md section 14). */
  presence: Type.Optional(Type.Boolean()),
});
export type SubscribePayload = Static<typeof SubscribePayload>;

export const UnsubscribePayload = Type.Object({
  action: Type.Literal("unsubscribe"),
  channel: ChannelName,
});
export type UnsubscribePayload = Static<typeof UnsubscribePayload>;

export const PingPayload = Type.Object({ type: Type.Literal("ping") });

/**
 * Text without NUL (U+0000), which PostgreSQL cannot store: refused alike on every dialect (docs/protocol.md
 * section 8.2). One character class, so checking it is linear in the text.
 */
export const WITHOUT_NUL = "^[^\\u0000]*$";

const MessageId = Type.String({ minLength: 1, maxLength: 128, pattern: WITHOUT_NUL });

export const ChatSendPayload = Type.Object({
  action: Type.Literal("send"),
  thread_id: Type.Optional(Type.String({ minLength: 1, maxLength: 128, pattern: WITHOUT_NUL })),
  content: Type.String({ minLength: 1, maxLength: 100_000, pattern: WITHOUT_NUL }),
  use_reasoning: Type.Optional(Type.Boolean()),
});
export type ChatSendPayload = Static<typeof ChatSendPayload>;

export const ChatStopPayload = Type.Object({ action: Type.Literal("stop"), message_id: MessageId });
export type ChatStopPayload = Static<typeof ChatStopPayload>;

export const ChatApprovePayload = Type.Object({
  action: Type.Literal("approve"),
  message_id: MessageId,
  call_id: Type.String({ minLength: 1, maxLength: 256 }),
});
export type ChatApprovePayload = Static<typeof ChatApprovePayload>;

export const ChatRejectPayload = Type.Object({
  action: Type.Literal("reject"),
  message_id: MessageId,
  call_id: Type.String({ minLength: 1, maxLength: 256 }),
  reason: Type.Optional(Type.String({ maxLength: 2000, pattern: WITHOUT_NUL })),
});
export type ChatRejectPayload = Static<typeof ChatRejectPayload>;

export type ChatPayload = ChatSendPayload | ChatStopPayload | ChatApprovePayload | ChatRejectPayload;

/** Body of `POST /publish`. */
export const PublishBody = Type.Object({
  channel: ChannelName,
  payload: Type.Record(Type.String(), Type.Unknown()),
});
export type PublishBody = Static<typeof PublishBody>;
