// Reads a request's JSON body within a byte and a depth limit, for every route and transport that takes one.

import type { Static, TSchema } from "@sinclair/typebox";
import { ErrorCode, MAX_JSON_DEPTH, ProtocolError, jsonDepthExceeds, validationFailures } from "../protocol/index.ts";

export interface JsonBodyOptions {
  /** The most bytes read; a longer body is refused with `too_large`, and no more of it is read. */
  maxBytes: number;
  /** The deepest nesting accepted; deeper is `invalid_message`. */
  maxDepth?: number;
  /** An absent or empty body is allowed (of any content type) and reads as `undefined`. */
  optional?: boolean;
}

/** The request's Content-Length, or undefined when it has none (a chunked body). */
export function declaredLength(request: Request): number | undefined {
  const header = request.headers.get("content-length");
  if (header === null) return undefined;
  const length = Number(header);
  return Number.isFinite(length) ? length : undefined;
}

export function bodyTooLarge(maxBytes: number): ProtocolError {
  return new ProtocolError(ErrorCode.tooLarge, `request body is larger than ${maxBytes} bytes`);
}

/**
 * The parsed JSON body (docs/protocol.md section 7.2). Call it only once the caller is authenticated: it
 * is what reads the body. Refuses, in this order: a Content-Length over `maxBytes` (413, nothing read),
 * a content type other than `application/json` (415), a body that grows past `maxBytes` while
 * streaming (413, the stream cancelled), an empty body where one is required and text that is not
 * UTF-8 JSON (400 `invalid_json`), nesting deeper than `maxDepth` (400 `invalid_message`).
 */
export async function readJsonBody(request: Request, options: JsonBodyOptions): Promise<unknown> {
  const { maxBytes, maxDepth = MAX_JSON_DEPTH, optional = false } = options;
  const length = declaredLength(request);
  if (length !== undefined && length > maxBytes) throw bodyTooLarge(maxBytes);
  const absent = request.body === null || length === 0;
  if (!isJsonType(request.headers.get("content-type"))) {
    if (absent && optional) return undefined;
    throw new ProtocolError(ErrorCode.unsupportedMediaType, "request body must be application/json");
  }
  const bytes = absent ? new Uint8Array(0) : await readAtMost(request.body!, maxBytes);
  if (bytes.byteLength === 0) {
    if (optional) return undefined;
    throw new ProtocolError(ErrorCode.invalidJson, "request body is empty; expected JSON");
  }
  let text: string;
  try {
    text = utf8.decode(bytes);
  } catch {
    throw new ProtocolError(ErrorCode.invalidJson, "request body is not UTF-8");
  }
  // Checked before parsing: a deeply nested value would overflow the stack of the code that walks it.
  if (jsonDepthExceeds(text, maxDepth)) throw new ProtocolError(ErrorCode.invalidMessage, `request body nests deeper than ${maxDepth} levels`);
  try {
    return JSON.parse(text);
  } catch {
    throw new ProtocolError(ErrorCode.invalidJson, "request body is not valid JSON");
  }
}

/** The OpenAPI `requestBody` of a route that reads its body with readJsonBody, which Elysia does not see. */
export function jsonRequestBody(schema: TSchema, required = true) {
  return { required, content: { "application/json": { schema } } };
}

const utf8 = new TextDecoder("utf-8", { fatal: true });

/** `application/json`, with no charset or a UTF-8 one (the only encoding JSON has, RFC 8259). */
function isJsonType(contentType: string | null): boolean {
  if (contentType === null) return false;
  const [type = "", ...parameters] = contentType.split(";");
  if (type.trim().toLowerCase() !== "application/json") return false;
  return parameters.every((parameter) => {
    const [name = "", value = ""] = parameter.split("=");
    if (name.trim().toLowerCase() !== "charset") return true;
    const charset = value.trim().replace(/^"|"$/g, "").toLowerCase();
    return charset === "utf-8" || charset === "utf8";
  });
}

/**
 * The stream's bytes, or `too_large` as soon as they pass `maxBytes`: a chunked body has no length to
 * check up front, so the stream is cancelled there and at most `maxBytes` plus one chunk is held.
 */
async function readAtMost(stream: ReadableStream<Uint8Array>, maxBytes: number): Promise<Uint8Array> {
  const reader = stream.getReader();
  const chunks: Uint8Array[] = [];
  let total = 0;
  for (;;) {
    const { done, value } = await reader.read().catch((error: unknown) => {
      // The client went away mid-body: its doing, not a server failure to log as one.
      throw new ProtocolError(ErrorCode.invalidJson, "request body was cut off", undefined, { cause: error });
    });
    if (done) break;
    total += value.byteLength;
    if (total > maxBytes) {
      chunks.length = 0;
      await reader.cancel().catch(() => {});
      throw bodyTooLarge(maxBytes);
    }
    chunks.push(value);
  }
  if (chunks.length === 1) return chunks[0]!;
  const bytes = new Uint8Array(total);
  let offset = 0;
  for (const chunk of chunks) {
    bytes.set(chunk, offset);
    offset += chunk.byteLength;
  }
  return bytes;
}

/** The body as the schema's type, or `invalid_message` with the failing paths (and `message`, when given). */
export function bodyMatching<T extends TSchema>(schema: T, body: unknown, message = "request does not match the schema"): Static<T> {
  const details = validationFailures(schema, body);
  if (details) throw new ProtocolError(ErrorCode.invalidMessage, message, details);
  return body as Static<T>;
}
