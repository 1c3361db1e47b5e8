// Builders of every server frame, as JSON text ready to send.

import type { ErrorCode } from "./codes.ts";

export interface ChannelState {
  seq: number;
  epoch: string;
}

function frame(channel: string, id: string | undefined, payload: unknown): string {
  return JSON.stringify(id === undefined ? { channel, payload } : { channel, id, payload });
}

export function errorFrame(code: ErrorCode, message: string, id?: string, details?: string[]): string {
  return frame("error", id, details ? { code, message, details } : { code, message });
}

export function connectedFrame(connectionId: string, userId: string, id?: string): string {
  return frame("system", id, {
    type: "connected",
    connection_id: connectionId,
    user_id: userId,
    server_time: Date.now() / 1000,
  });
}

export function pongFrame(id?: string): string {
  return frame("system", id, { type: "pong", server_time: Date.now() / 1000 });
}

export function shutdownFrame(): string {
  return frame("system", undefined, { type: "shutdown" });
}

export function publishedFrame(channel: string, seq: number, id: string): string {
  return frame("system", id, { type: "published", channel, seq });
}

export function subscribedFrame(
  channel: string,
  state: ChannelState,
  id: string | undefined,
  recovery?: { recovered: boolean; replayed: number },
): string {
  const payload: Record<string, unknown> = { status: "subscribed", channel, seq: state.seq, epoch: state.epoch };
  if (recovery) {
    payload.recovered = recovery.recovered;
    payload.replayed = recovery.replayed;
  }
  return frame("subscription", id, payload);
}

export function unsubscribedFrame(channel: string, id?: string, reason?: string): string {
  return frame("subscription", id, reason ? { status: "unsubscribed", channel, reason } : { status: "unsubscribed", channel });
}

/** A publication as delivered to subscribers; `payloadJson` is the payload already serialised once. */
export function publicationFrame(channel: string, seq: number, payloadJson: string): string {
  return '{"channel":' + JSON.stringify(channel) + ',"seq":' + seq + ',"payload":' + payloadJson + "}";
}

export function chatFrame(payload: Record<string, unknown>, id?: string): string {
  return frame("chat", id, payload);
}
