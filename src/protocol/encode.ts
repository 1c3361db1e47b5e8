// Builders of every server frame, as JSON text ready to send, typed with the schema of the frame it holds.

import type { ErrorCode } from "./codes.ts";
import type {
  ChannelState,
  ChatAck,
  ChatFrame,
  ConnectedFrame,
  ErrorFrame,
  ErrorPayload,
  FrameText,
  PongFrame,
  PublicationFrame,
  PublishedFrame,
  ServerFrame,
  ShutdownFrame,
  SubscribedFrame,
  SubscribedPayload,
  UnsubscribedFrame,
  UnsubscribedPayload,
} from "./server-frames.ts";

/** `{channel, id?, payload}`, without an `id` key when there is none. */
function encode<F extends ServerFrame>(channel: F["channel"], id: string | undefined, payload: F["payload"]): FrameText<F> {
  return JSON.stringify(id === undefined ? { channel, payload } : { channel, id, payload }) as FrameText<F>;
}

export function errorFrame(code: ErrorCode, message: string, id?: string, details?: string[]): FrameText<ErrorFrame> {
  const payload: ErrorPayload = details ? { code, message, details } : { code, message };
  return encode<ErrorFrame>("error", id, payload);
}

export function connectedFrame(connectionId: string, userId: string, id?: string): FrameText<ConnectedFrame> {
  return encode<ConnectedFrame>("system", id, {
    type: "connected",
    connection_id: connectionId,
    user_id: userId,
    server_time: Date.now() / 1000,
  });
}

export function pongFrame(id?: string): FrameText<PongFrame> {
  return encode<PongFrame>("system", id, { type: "pong", server_time: Date.now() / 1000 });
}

export function shutdownFrame(): FrameText<ShutdownFrame> {
  return encode<ShutdownFrame>("system", undefined, { type: "shutdown" });
}

export function publishedFrame(channel: string, seq: number, id: string): FrameText<PublishedFrame> {
  return encode<PublishedFrame>("system", id, { type: "published", channel, seq });
}

export function subscribedFrame(
  channel: string,
  state: ChannelState,
  id: string | undefined,
  recovery?: { recovered: boolean; replayed: number },
): FrameText<SubscribedFrame> {
  const payload: SubscribedPayload = { status: "subscribed", channel, seq: state.seq, epoch: state.epoch };
  if (recovery) {
    payload.recovered = recovery.recovered;
    payload.replayed = recovery.replayed;
  }
  return encode<SubscribedFrame>("subscription", id, payload);
}

export function unsubscribedFrame(channel: string, id?: string, reason?: string): FrameText<UnsubscribedFrame> {
  const payload: UnsubscribedPayload = reason ? { status: "unsubscribed", channel, reason } : { status: "unsubscribed", channel };
  return encode<UnsubscribedFrame>("subscription", id, payload);
}

/** A publication as delivered to subscribers; `payloadJson` is the payload (a JSON object) already serialised once. */
export function publicationFrame(channel: string, seq: number, payloadJson: string): FrameText<PublicationFrame> {
  return ('{"channel":' + JSON.stringify(channel) + ',"seq":' + seq + ',"payload":' + payloadJson + "}") as FrameText<PublicationFrame>;
}

/** The answer to a `chat` frame: the ack the agent returned. */
export function chatFrame(payload: ChatAck, id?: string): FrameText<ChatFrame> {
  return encode<ChatFrame>("chat", id, payload);
}
