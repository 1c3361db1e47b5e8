// The one place that turns a raw client frame into a typed command, or into a coded error.

import { TypeCompiler, type TypeCheck } from "@sinclair/typebox/compiler";
import type { TSchema } from "@sinclair/typebox";
import { ErrorCode } from "./codes.ts";
import { ReservedChannel } from "./channels.ts";
import { MAX_JSON_DEPTH, jsonDepthExceeds } from "./json-depth.ts";
import { PresenceQueryPayload } from "./presence.ts";
import {
  AuthPayload,
  ChatApprovePayload,
  ChatRejectPayload,
  ChatSendPayload,
  ChatStopPayload,
  ClientEnvelope,
  PingPayload,
  RequestId,
  SubscribePayload,
  UnsubscribePayload,
  type ChatPayload,
} from "./schemas.ts";

export type ClientCommand =
  | { kind: "auth"; id?: string; token: string }
  | { kind: "subscribe"; id?: string; channel: string; since?: number; epoch?: string; presence?: boolean }
  | { kind: "presence"; id?: string; channel: string; limit?: number; cursor?: string }
  | { kind: "unsubscribe"; id?: string; channel: string }
  | { kind: "ping"; id?: string }
  | { kind: "chat"; id?: string; payload: ChatPayload }
  | { kind: "publish"; id?: string; channel: string; payload: Record<string, unknown> };

export type DecodeFailure = {
  kind: "error";
  id?: string;
  code: typeof ErrorCode.invalidJson | typeof ErrorCode.invalidMessage | typeof ErrorCode.unsupportedFrame | typeof ErrorCode.forbidden;
  message: string;
  details?: string[];
};

export type Decoded = ClientCommand | DecodeFailure;

const MAX_DETAILS = 10;

class Validator<T extends TSchema> {
  private readonly check: TypeCheck<T>;
  constructor(schema: T, private readonly prefix: string) {
    this.check = TypeCompiler.Compile(schema);
  }
  /** Failing JSON-pointer paths (prefixed), or undefined when the value matches. */
  failures(value: unknown): string[] | undefined {
    if (this.check.Check(value)) return undefined;
    const paths = new Set<string>();
    for (const error of this.check.Errors(value)) {
      paths.add(this.prefix + error.path);
      if (paths.size >= MAX_DETAILS) break;
    }
    return [...paths];
  }
}

const envelope = new Validator(ClientEnvelope, "");
const requestId = new Validator(RequestId, "/id");
const auth = new Validator(AuthPayload, "/payload");
const subscribe = new Validator(SubscribePayload, "/payload");
const unsubscribe = new Validator(UnsubscribePayload, "/payload");
const presence = new Validator(PresenceQueryPayload, "/payload");
const ping = new Validator(PingPayload, "/payload");
const chatByAction: Record<string, Validator<TSchema>> = {
  send: new Validator(ChatSendPayload, "/payload"),
  stop: new Validator(ChatStopPayload, "/payload"),
  approve: new Validator(ChatApprovePayload, "/payload"),
  reject: new Validator(ChatRejectPayload, "/payload"),
};

function invalid(id: string | undefined, details: string[], message = "frame does not match the protocol"): DecodeFailure {
  return { kind: "error", id, code: ErrorCode.invalidMessage, message, details };
}

/** Decode one WebSocket frame. Binary frames, bad JSON and schema failures come back as coded errors. */
export function decode(raw: string | Uint8Array): Decoded {
  if (typeof raw !== "string") {
    return { kind: "error", code: ErrorCode.unsupportedFrame, message: "binary frames are not supported; send JSON text" };
  }
  // Checked before parsing: a deeply nested value would overflow the stack of the code that walks it.
  if (jsonDepthExceeds(raw, MAX_JSON_DEPTH)) {
    return { kind: "error", code: ErrorCode.invalidMessage, message: `frame nests deeper than ${MAX_JSON_DEPTH} levels` };
  }
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    return { kind: "error", code: ErrorCode.invalidJson, message: "frame is not valid JSON" };
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    return invalid(undefined, ["/"], "frame must be a JSON object");
  }
  const frame = value as Record<string, unknown>;
  if (frame.id !== undefined) {
    const idFailures = requestId.failures(frame.id);
    if (idFailures) return invalid(undefined, idFailures, "id must be a string of 1-64 characters");
  }
  const id = frame.id as string | undefined;
  const envelopeFailures = envelope.failures(frame);
  if (envelopeFailures) return invalid(id, envelopeFailures);
  const { channel, payload } = frame as ClientEnvelope;

  switch (channel) {
    case ReservedChannel.auth: {
      const failures = auth.failures(payload);
      return failures ? invalid(id, failures) : { kind: "auth", id, token: payload.token as string };
    }
    case ReservedChannel.subscription: {
      if (payload.action === "subscribe") {
        const failures = subscribe.failures(payload);
        if (failures) return invalid(id, failures);
        return {
          kind: "subscribe",
          id,
          channel: payload.channel as string,
          since: payload.since as number | undefined,
          epoch: payload.epoch as string | undefined,
          presence: payload.presence === true ? true : undefined,
        };
      }
      if (payload.action === "presence") {
        const failures = presence.failures(payload);
        if (failures) return invalid(id, failures);
        return { kind: "presence", id, channel: payload.channel as string, limit: payload.limit as number | undefined, cursor: payload.cursor as string | undefined };
      }
      if (payload.action === "unsubscribe") {
        const failures = unsubscribe.failures(payload);
        return failures ? invalid(id, failures) : { kind: "unsubscribe", id, channel: payload.channel as string };
      }
      return invalid(id, ["/payload/action"], "action must be subscribe, unsubscribe or presence");
    }
    case ReservedChannel.system: {
      const failures = ping.failures(payload);
      return failures ? invalid(id, failures, "the only system frame a client sends is ping") : { kind: "ping", id };
    }
    case ReservedChannel.chat: {
      const validator = typeof payload.action === "string" ? chatByAction[payload.action] : undefined;
      if (!validator) return invalid(id, ["/payload/action"], "action must be send, stop, approve or reject");
      const failures = validator.failures(payload);
      return failures ? invalid(id, failures) : { kind: "chat", id, payload: payload as unknown as ChatPayload };
    }
    case ReservedChannel.error:
      return { kind: "error", id, code: ErrorCode.forbidden, message: "channel error is reserved" };
    default:
      return { kind: "publish", id, channel, payload };
  }
}

/** Validate an HTTP body or other value against a schema, returning failing paths. */
export function validationFailures<T extends TSchema>(schema: T, value: unknown): string[] | undefined {
  let validator = cache.get(schema);
  if (!validator) {
    validator = new Validator(schema, "");
    cache.set(schema, validator);
  }
  return validator.failures(value);
}
const cache = new WeakMap<TSchema, Validator<TSchema>>();
