// The SDK's errors: one class with a stable code (the server's error codes plus the client's own), and ApiError for REST.

import type { ErrorCode } from "../protocol/codes.ts";

/** Codes the client itself raises, beside the server's `ErrorCode`s. */
export const ClientErrorCode = {
  /** No reply within the request's timeout. */
  timeout: "timeout",
  /** The connection dropped after the frame was sent: its outcome is unknown, so it is not re-sent. */
  disconnected: "disconnected",
  /** More than `maxOfflineQueue` frames are waiting for a connection. */
  offlineQueueFull: "offline_queue_full",
  /** `close()` was called. */
  clientClosed: "client_closed",
  /** The server refused the static token; set a new one with `setToken()`. */
  tokenRefused: "token_refused",
  /** `getToken()` failed or no token was configured. */
  tokenUnavailable: "token_unavailable",
  /** No WebSocket implementation, or the URL cannot be opened. */
  transport: "transport_error",
  /** The server sent something that is not a protocol frame. */
  badFrame: "bad_frame",
  /** `subscribe()` on a channel that already has a Subscription; use `getSubscription()`. */
  alreadySubscribed: "already_subscribed",
  /** The subscription ended (by `unsubscribe()`, or the server ended it). */
  unsubscribed: "unsubscribed",
  /** A REST call failed without a protocol error body (network error, unexpected status). */
  http: "http_error",
} as const;

export type ClientErrorCode = (typeof ClientErrorCode)[keyof typeof ClientErrorCode];

export type AgentwireErrorCode = ErrorCode | ClientErrorCode;

export class AgentwireError extends Error {
  override readonly name: string = "AgentwireError";
  constructor(
    /** A server `ErrorCode` (from an `error` frame or REST body) or a `ClientErrorCode`. */
    readonly code: AgentwireErrorCode | (string & {}),
    message: string,
    readonly details?: string[],
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** A REST call answered with an error: the body's `code` (or `http_error`) and the HTTP status (0 for a network failure). */
export class ApiError extends AgentwireError {
  override readonly name = "ApiError";
  constructor(
    code: AgentwireErrorCode | (string & {}),
    message: string,
    readonly status: number,
    details?: string[],
    options?: { cause?: unknown },
  ) {
    super(code, message, details, options);
  }
}

/** The error an `error` frame's payload stands for. */
export function errorFromPayload(payload: Record<string, unknown>): AgentwireError {
  const code = typeof payload.code === "string" ? payload.code : "internal";
  const message = typeof payload.message === "string" ? payload.message : "the server answered with an error";
  const details = Array.isArray(payload.details) ? payload.details.map(String) : undefined;
  return new AgentwireError(code, message, details);
}
