// The one function that turns any error on the HTTP side into `{code, message}` with the status that fits.

import { ErrorCode, ProtocolError, httpStatusOf, toProtocolError } from "../protocol/index.ts";
import type { Logger } from "../observability/log.ts";

export function httpError(error: ProtocolError): Response {
  const body: Record<string, unknown> = { code: error.code, message: error.message };
  if (error.details) body.details = error.details;
  return Response.json(body, { status: httpStatusOf[error.code] });
}

/** Maps Elysia's own error codes and anything thrown by a handler; unknown failures are logged and become `internal`. */
export function errorResponse(code: string | number, error: unknown, logger: Logger): Response {
  switch (code) {
    case "PARSE":
      return httpError(new ProtocolError(ErrorCode.invalidJson, "request body is not valid JSON"));
    case "NOT_FOUND":
      return httpError(new ProtocolError(ErrorCode.notFound, "no such route"));
    case "VALIDATION":
      return httpError(new ProtocolError(ErrorCode.invalidMessage, "request does not match the schema", validationPaths(error)));
  }
  const protocolError = toProtocolError(error);
  if (protocolError.code === ErrorCode.internal) logger.error("request failed", { error });
  return httpError(protocolError);
}

/** The failing paths of an Elysia validation error, without the schema it would otherwise print. */
function validationPaths(error: unknown): string[] | undefined {
  const all = (error as { all?: { path?: string }[] }).all;
  if (!Array.isArray(all)) return undefined;
  const paths = new Set(all.map((entry) => entry.path || "/"));
  return [...paths].slice(0, 10);
}
