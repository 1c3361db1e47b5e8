// The error class every layer throws; each boundary turns it into a frame, an HTTP body or a run event.

import { ErrorCode } from "./codes.ts";

export class ProtocolError extends Error {
  override readonly name = "ProtocolError";
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details?: string[],
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/** What a client may see of any thrown value: our own errors as they are, anything else as `internal`. */
export function toProtocolError(error: unknown): ProtocolError {
  if (error instanceof ProtocolError) return error;
  return new ProtocolError(ErrorCode.internal, "internal server error", undefined, { cause: error });
}
