// Types of the frames the server sends (PROTOCOL.md sections 3-8) and the one parser the client runs on them.

import type { RunAccepted, RunEventPayload } from "../protocol/run-events.ts";

export interface ServerFrame {
  channel: string;
  id?: string;
  seq?: number;
  payload: Record<string, unknown>;
}

/** `{"channel":"system","payload":{"type":"connected",...}}`, after authentication and after each token refresh. */
export interface ConnectedPayload {
  type: "connected";
  connection_id: string;
  user_id: string;
  /** Seconds since epoch, float. */
  server_time: number;
}

/** The ack of a subscribe, or the announcement of the automatic thread subscription (then without id). */
export interface SubscribedPayload {
  status: "subscribed";
  channel: string;
  seq: number;
  epoch: string;
  /** Only when the subscribe carried `since`. */
  recovered?: boolean;
  replayed?: number;
}

export interface UnsubscribedPayload {
  status: "unsubscribed";
  channel: string;
  /** `forbidden` when the server ended it after a token refresh. */
  reason?: string;
}

export interface PublishedPayload {
  type: "published";
  channel: string;
  seq: number;
}

/** The ack of `stop`, `approve` and `reject`. */
export interface RunControlAck {
  status: "stopping" | "approved" | "rejected";
  message_id: string;
  call_id?: string;
}

/** A publication as the application sees it. */
export interface Publication<P = Record<string, unknown>> {
  channel: string;
  seq: number;
  payload: P;
}

export type { RunAccepted, RunEventPayload };

/** The frame in a WebSocket message, or undefined when it is not one (binary, bad JSON, wrong shape). */
export function parseServerFrame(data: unknown): ServerFrame | undefined {
  if (typeof data !== "string") return undefined;
  let value: unknown;
  try {
    value = JSON.parse(data);
  } catch {
    return undefined;
  }
  if (typeof value !== "object" || value === null) return undefined;
  const frame = value as Record<string, unknown>;
  if (typeof frame.channel !== "string") return undefined;
  if (typeof frame.payload !== "object" || frame.payload === null || Array.isArray(frame.payload)) return undefined;
  if (frame.id !== undefined && typeof frame.id !== "string") return undefined;
  if (frame.seq !== undefined && !Number.isInteger(frame.seq)) return undefined;
  return frame as unknown as ServerFrame;
}
