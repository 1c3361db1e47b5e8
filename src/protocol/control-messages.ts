// Requests between nodes (docs/protocol.md section 9.6): `stop` and `decide` forwarded to the node
// running a run, their replies, and the envelope that carries them; no client ever sees them.

import { Type, type Static, type TSchema } from "@sinclair/typebox";
import { ErrorCode } from "./codes.ts";
import { validationFailures } from "./decode.ts";
import { ProtocolError } from "./errors.ts";
import { MAX_JSON_DEPTH, jsonDepthExceeds } from "./json-depth.ts";

const Id = Type.String({ minLength: 1, maxLength: 256 });

// Field names as the nodes sent them before this schema existed, so nodes of both versions understand each other.

/** Stop the run of `messageId` on behalf of `userId`, who must own it. */
export const ControlStop = Type.Object({ action: Type.Literal("stop"), userId: Id, messageId: Id });
export type ControlStop = Static<typeof ControlStop>;

/** Approve or reject the run's tool call `callId` waiting for approval, on behalf of `userId`. */
export const ControlDecide = Type.Object({
  action: Type.Literal("decide"),
  userId: Id,
  messageId: Id,
  callId: Id,
  approved: Type.Boolean(),
  reason: Type.Optional(Type.String({ maxLength: 2000 })),
});
export type ControlDecide = Static<typeof ControlDecide>;

export const ControlRequest = Type.Union([ControlStop, ControlDecide]);
export type ControlRequest = Static<typeof ControlRequest>;

/**
 * Told to every node at once: `userId` lost access to the thread, or was lowered to viewer, so its
 * subscriptions to the thread end (docs/protocol.md section 14).
 */
export const ControlRevoke = Type.Object({ action: Type.Literal("revoke"), threadId: Id, userId: Id });
export type ControlRevoke = Static<typeof ControlRevoke>;

/** What is broadcast to every node; no answer is expected. */
export const ControlNotice = ControlRevoke;
export type ControlNotice = ControlRevoke;

/** The body of a broadcast; throws `invalid_message` with the failing paths. */
export function controlNotice(value: unknown): ControlNotice {
  return matching(ControlNotice, value, "control notice");
}

/** The answer to a request that succeeded; a refused one comes back as an `error` envelope with its code. */
export const ControlReply = Type.Object({ ok: Type.Literal(true) });
export type ControlReply = Static<typeof ControlReply>;

/**
 * What travels on a node's control channel. The request and answer bodies are checked apart from the
 * envelope, so a request with a bad body can still be answered with a coded error.
 */
export const ControlEnvelope = Type.Union([
  Type.Object({ type: Type.Literal("request"), id: Id, from: Id, message: Type.Unknown() }),
  Type.Object({ type: Type.Literal("answer"), id: Id, message: Type.Unknown() }),
  Type.Object({ type: Type.Literal("error"), id: Id, code: Type.String(), message: Type.String() }),
  Type.Object({ type: Type.Literal("notice"), from: Id, message: Type.Unknown() }),
]);
export type ControlEnvelope = Static<typeof ControlEnvelope>;

function matching<T extends TSchema>(schema: T, value: unknown, what: string): Static<T> {
  const details = validationFailures(schema, value);
  if (details) throw new ProtocolError(ErrorCode.invalidMessage, `${what} does not match the protocol`, details);
  return value as Static<T>;
}

/** The envelope in `text`; throws `invalid_json` or `invalid_message` (with the failing paths). */
export function decodeControlEnvelope(text: string): ControlEnvelope {
  if (jsonDepthExceeds(text, MAX_JSON_DEPTH)) throw new ProtocolError(ErrorCode.invalidMessage, `control message nests deeper than ${MAX_JSON_DEPTH} levels`);
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new ProtocolError(ErrorCode.invalidJson, "control message is not valid JSON", undefined, { cause: error });
  }
  return matching(ControlEnvelope, value, "control message");
}

const requestByAction: Record<string, TSchema> = { stop: ControlStop, decide: ControlDecide };

/** The body of a `request` envelope; throws `invalid_message` with the failing paths. */
export function controlRequest(value: unknown): ControlRequest {
  // Checked against the schema of its action, so the failing paths name fields rather than the whole union.
  const action = typeof value === "object" && value !== null ? (value as { action?: unknown }).action : undefined;
  const schema = typeof action === "string" && Object.hasOwn(requestByAction, action) ? requestByAction[action]! : undefined;
  if (!schema) throw new ProtocolError(ErrorCode.invalidMessage, "control request does not match the protocol", ["/action"]);
  return matching(schema, value, "control request") as ControlRequest;
}

/** The body of an `answer` envelope; throws `invalid_message` with the failing paths. */
export function controlReply(value: unknown): ControlReply {
  return matching(ControlReply, value, "control answer");
}
