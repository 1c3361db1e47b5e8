// The one parser the client runs on what the server sends; the frames themselves are typed in src/protocol/.

import type { PresenceChange, PresenceDiff, PresenceFrame } from "../protocol/presence.ts";
import type { PublicationFrame, ServerEnvelope } from "../protocol/server-frames.ts";

/** A publication as the application sees it: the frame, with the payload type the application expects. */
export type Publication<P = Record<string, unknown>> = Omit<PublicationFrame, "payload"> & { payload: P };

/**
 * The envelope in a WebSocket message, a presence frame (which has `presence` instead of a payload), or
 * undefined when it is neither (binary, bad JSON, wrong shape). Checks by hand what the ServerEnvelope
 * schema says, so the SDK carries no schema validator.
 */
export function parseServerFrame(data: unknown): ServerEnvelope | PresenceFrame | undefined {
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
  if (frame.payload === undefined && isPresence(frame.presence)) return frame as PresenceFrame;
  if (typeof frame.payload !== "object" || frame.payload === null || Array.isArray(frame.payload)) return undefined;
  if (frame.id !== undefined && typeof frame.id !== "string") return undefined;
  if (frame.seq !== undefined && !Number.isInteger(frame.seq)) return undefined;
  return frame as ServerEnvelope;
}

function isPresence(value: unknown): value is PresenceChange | PresenceDiff {
  if (typeof value !== "object" || value === null) return false;
  const presence = value as Record<string, unknown>;
  if (presence.action === "diff") return Array.isArray(presence.joins) && Array.isArray(presence.leaves) && Array.isArray(presence.updates);
  return typeof presence.action === "string" && typeof presence.client === "string" && typeof presence.user === "string";
}

/** A presence frame as the changes it carries, a diff spread into its leaves, joins and updates (in that order). */
export function presenceChanges(presence: PresenceChange | PresenceDiff): PresenceChange[] {
  if (presence.action !== "diff") return [presence];
  return [
    ...presence.leaves.map((who): PresenceChange => ({ action: "leave", ...who })),
    ...presence.joins.map((who): PresenceChange => ({ action: "join", ...who })),
    ...presence.updates.map((who): PresenceChange => ({ action: "update", ...who })),
  ];
}
