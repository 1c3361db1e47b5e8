// The one parser the client runs on what the server sends; the frames themselves are typed in src/protocol/.

import type { PublicationFrame, ServerEnvelope } from "../protocol/server-frames.ts";

/** A publication as the application sees it: the frame, with the payload type the application expects. */
export type Publication<P = Record<string, unknown>> = Omit<PublicationFrame, "payload"> & { payload: P };

/**
 * The envelope in a WebSocket message, or undefined when it is not one (binary, bad JSON, wrong shape).
 * Checks by hand what the ServerEnvelope schema says, so the SDK carries no schema validator.
 */
export function parseServerFrame(data: unknown): ServerEnvelope | undefined {
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
  return frame as ServerEnvelope;
}
