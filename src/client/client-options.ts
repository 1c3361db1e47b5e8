// The client's options, states, events and its own close codes.

import { CloseCode } from "../protocol/codes.ts";
import type { ConnectedPayload } from "../protocol/server-frames.ts";
import type { AgentwireError } from "./errors.ts";
import type { FetchLike } from "./threads-api.ts";
import type { WebSocketConstructor } from "./websocket.ts";

export type ClientState = "disconnected" | "connecting" | "connected" | "closed";

/** Close codes the client decides itself (4000-4999 is the range a WebSocket may be closed with). */
export const ClientCloseCode = {
  /** disconnect() or close(). */
  clientDisconnect: CloseCode.normal,
  /** No pong within the heartbeat timeout: the link is dead. */
  heartbeatTimeout: 4001,
  /** No `connected` within the request timeout after opening the socket. */
  connectTimeout: 4002,
  /** The socket failed without a close frame (the WebSocket API reports 1006). */
  abnormal: 1006,
} as const;

export interface AgentwireClientOptions {
  /** `ws://host:port/ws`. The token goes in the first frame, never in the URL. */
  url: string;
  /** A static token. With `getToken` too, it is used for the first connect only. */
  token?: string;
  /** Called on every (re)connect and before the token expires, to get a fresh token. */
  getToken?: () => Promise<string>;
  /** REST base; derived from `url` (`ws://h/ws` gives `http://h`) when absent. */
  httpUrl?: string;
  /** WebSocket constructor; default `globalThis.WebSocket` (pass `ws` or undici's on Node 20). */
  WebSocket?: WebSocketConstructor;
  /** fetch for the REST calls; default `globalThis.fetch`. */
  fetch?: FetchLike;
  /** Full-jitter backoff: the n-th reconnect waits random(0, min(max, min * 2^n)). */
  minReconnectDelayMs?: number;
  maxReconnectDelayMs?: number;
  requestTimeoutMs?: number;
  /** Application ping interval while connected; 0 turns heartbeats off. */
  heartbeatIntervalMs?: number;
  /** How long a ping may wait for its pong before the link counts as dead; default requestTimeoutMs. */
  heartbeatTimeoutMs?: number;
  /** Publishes and requests that may wait for a connection; beyond it they fail at once. */
  maxOfflineQueue?: number;
  /** Connected this long, the backoff starts over. */
  stableConnectionMs?: number;
}

export interface DisconnectInfo {
  code: number;
  reason: string;
  /** Whether the client reconnects by itself. */
  reconnecting: boolean;
}

export interface ClientEvents {
  state: { state: ClientState; previous: ClientState };
  /** Authenticated; subscriptions are being resumed and queued frames were sent. */
  connected: ConnectedPayload;
  /** A connection (or connection attempt) ended. */
  disconnected: DisconnectInfo;
  error: AgentwireError;
}
