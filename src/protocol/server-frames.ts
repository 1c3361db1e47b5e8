// TypeBox schemas of every frame the server sends (docs/protocol.md); encode.ts builds them, the SDK and
// the tests read them. The frames a client sends are in schemas.ts.

import { Type, type Static, type TSchema } from "@sinclair/typebox";
import { CHANNEL_PATTERN, ReservedChannel, THREAD_PREFIX } from "./channels.ts";
import { ErrorCode } from "./codes.ts";
import { literalUnion } from "./literal-union.ts";
import { RunEventPayload } from "./run-events.ts";
import { ChannelName, RequestId } from "./schemas.ts";

/** A channel's position: its latest seq (0 when nothing was published yet) and its history generation. */
export const ChannelState = Type.Object({
  seq: Type.Integer({ minimum: 0 }),
  /** Changes whenever the channel's history was lost. */
  epoch: Type.String(),
});
export type ChannelState = Static<typeof ChannelState>;

// ---- payloads ----

/** After authentication and after each token refresh. */
export const ConnectedPayload = Type.Object({
  type: Type.Literal("connected"),
  connection_id: Type.String(),
  user_id: Type.String(),
  /** Seconds since epoch, float. */
  server_time: Type.Number(),
});
export type ConnectedPayload = Static<typeof ConnectedPayload>;

export const PongPayload = Type.Object({ type: Type.Literal("pong"), server_time: Type.Number() });
export type PongPayload = Static<typeof PongPayload>;

export const ShutdownPayload = Type.Object({ type: Type.Literal("shutdown") });
export type ShutdownPayload = Static<typeof ShutdownPayload>;

/** The ack of a publish that carried an id. */
export const PublishedPayload = Type.Object({ type: Type.Literal("published"), channel: ChannelName, seq: Type.Integer({ minimum: 1 }) });
export type PublishedPayload = Static<typeof PublishedPayload>;

/** The ack of a subscribe, or the announcement of the automatic thread subscription of a chat send (then without id). */
export const SubscribedPayload = Type.Object({
  status: Type.Literal("subscribed"),
  channel: ChannelName,
  ...ChannelState.properties,
  /** Only when the subscribe carried `since`. */
  recovered: Type.Optional(Type.Boolean()),
  replayed: Type.Optional(Type.Integer({ minimum: 0 })),
});
export type SubscribedPayload = Static<typeof SubscribedPayload>;

export const UnsubscribedPayload = Type.Object({
  status: Type.Literal("unsubscribed"),
  channel: ChannelName,
  /** `forbidden` when the server ended the subscription after a token refresh. */
  reason: Type.Optional(Type.String()),
});
export type UnsubscribedPayload = Static<typeof UnsubscribedPayload>;

/** The ack of a chat `send`, and the body of `POST /threads/:id/messages`. */
export const RunAccepted = Type.Object({
  status: Type.Literal("accepted"),
  thread_id: Type.String(),
  user_message_id: Type.String(),
  message_id: Type.String(),
  channel: ChannelName,
});
export type RunAccepted = Static<typeof RunAccepted>;

/** The ack of `stop`, `approve` and `reject`. */
export const RunControlAck = Type.Object({
  status: literalUnion("stopping", "approved", "rejected"),
  message_id: Type.String(),
  /** With `approved` and `rejected`. */
  call_id: Type.Optional(Type.String()),
});
export type RunControlAck = Static<typeof RunControlAck>;

export const ChatAck = Type.Union([RunAccepted, RunControlAck]);
export type ChatAck = Static<typeof ChatAck>;

/** The payload of an `error` frame, and the body of every HTTP error. */
export const ErrorPayload = Type.Object({
  code: literalUnion(...Object.values(ErrorCode)),
  message: Type.String(),
  /** JSON-pointer paths of what failed validation, at most ten. */
  details: Type.Optional(Type.Array(Type.String())),
});
export type ErrorPayload = Static<typeof ErrorPayload>;

// ---- frames ----

// Any object, typed as a record, as in ClientEnvelope.
const AnyObject = Type.Unsafe<Record<string, unknown>>(Type.Object({}));

/** `{channel, id?, payload}`: a reply carries the id of the frame it answers. */
function reply<C extends string, P extends TSchema>(channel: C, payload: P) {
  return Type.Object({ channel: Type.Literal(channel), id: Type.Optional(RequestId), payload });
}

export const ConnectedFrame = reply(ReservedChannel.system, ConnectedPayload);
export type ConnectedFrame = Static<typeof ConnectedFrame>;
export const PongFrame = reply(ReservedChannel.system, PongPayload);
export type PongFrame = Static<typeof PongFrame>;
export const ShutdownFrame = Type.Object({ channel: Type.Literal(ReservedChannel.system), payload: ShutdownPayload });
export type ShutdownFrame = Static<typeof ShutdownFrame>;
export const PublishedFrame = Type.Object({ channel: Type.Literal(ReservedChannel.system), id: RequestId, payload: PublishedPayload });
export type PublishedFrame = Static<typeof PublishedFrame>;
export const SubscribedFrame = reply(ReservedChannel.subscription, SubscribedPayload);
export type SubscribedFrame = Static<typeof SubscribedFrame>;
export const UnsubscribedFrame = reply(ReservedChannel.subscription, UnsubscribedPayload);
export type UnsubscribedFrame = Static<typeof UnsubscribedFrame>;
export const ChatFrame = reply(ReservedChannel.chat, ChatAck);
export type ChatFrame = Static<typeof ChatFrame>;
export const ErrorFrame = reply(ReservedChannel.error, ErrorPayload);
export type ErrorFrame = Static<typeof ErrorFrame>;

/** Any channel but the reserved ones, so a publication never passes for a control frame. */
const PublicationChannel = Type.String({ pattern: `^(?!(?:${Object.values(ReservedChannel).join("|")})$)${CHANNEL_PATTERN.slice(1)}` });

/** A publication as delivered to subscribers: `seq` starts at 1 and grows by one per publication. */
export const PublicationFrame = Type.Object({ channel: PublicationChannel, seq: Type.Integer({ minimum: 1 }), payload: AnyObject });
export type PublicationFrame = Static<typeof PublicationFrame>;

/** A publication on a `thread:<id>` channel: a run event. */
export const RunEventFrame = Type.Object({
  channel: Type.String({ pattern: `^${THREAD_PREFIX}`, maxLength: 128 }),
  seq: Type.Integer({ minimum: 1 }),
  payload: RunEventPayload,
});
export type RunEventFrame = Static<typeof RunEventFrame>;

/** Every frame the server sends, by name: each frame matches exactly one of them. */
export const ServerFrameSchemas = {
  ConnectedFrame,
  PongFrame,
  ShutdownFrame,
  PublishedFrame,
  SubscribedFrame,
  UnsubscribedFrame,
  ChatFrame,
  ErrorFrame,
  PublicationFrame,
} as const;

/** Every frame the server sends. */
export const ServerFrame = Type.Union(Object.values(ServerFrameSchemas));
export type ServerFrame = Static<typeof ServerFrame>;

/** What every server frame has in common, all a client needs to check before routing it. */
export const ServerEnvelope = Type.Object({
  channel: Type.String(),
  id: Type.Optional(Type.String()),
  seq: Type.Optional(Type.Integer()),
  payload: AnyObject,
});
export type ServerEnvelope = Static<typeof ServerEnvelope>;

declare const frameOf: unique symbol;

/** The JSON text of a frame of type `F`: a string, typed with the frame it holds. */
export type FrameText<F extends ServerFrame> = string & { readonly [frameOf]: F };
