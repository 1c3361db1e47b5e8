// Stable error codes and WebSocket close codes of the wire protocol (docs/protocol.md section 8).

export const ErrorCode = {
  invalidJson: "invalid_json",
  invalidMessage: "invalid_message",
  unsupportedFrame: "unsupported_frame",
  forbidden: "forbidden",
  notFound: "not_found",
  conflict: "conflict",
  rateLimited: "rate_limited",
  tooManySubscriptions: "too_many_subscriptions",
  tooManyConnections: "too_many_connections",
  tooLarge: "too_large",
  unsupportedMediaType: "unsupported_media_type",
  unavailable: "unavailable",
  internal: "internal",
  unauthorized: "unauthorized",
} as const;

export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

export const CloseCode = {
  normal: 1000,
  goingAway: 1001,
  policyViolation: 1008,
  messageTooBig: 1009,
  internalError: 1011,
  tryAgainLater: 1013,
} as const;

/** Close reasons a client may act on (sent with the close code named beside each). */
export const CloseReason = {
  /** 1008: the user already holds MAX_CONNECTIONS_PER_USER connections on this node. */
  tooManyConnections: "too_many_connections",
} as const;

/** HTTP status that fits each error code on the REST side. */
export const httpStatusOf: Record<ErrorCode, number> = {
  invalid_json: 400,
  invalid_message: 400,
  unsupported_frame: 400,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  conflict: 409,
  rate_limited: 429,
  too_many_subscriptions: 429,
  too_many_connections: 429,
  too_large: 413,
  unsupported_media_type: 415,
  unavailable: 503,
  internal: 500,
};
