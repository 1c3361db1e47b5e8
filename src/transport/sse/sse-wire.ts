// How publications look on an SSE stream (docs/protocol.md section 10): `id: <epoch>:<seq>`, the
// payload's type as the event name, and the payload with its seq as data.

import type { Wire } from "../../gateway/connection.ts";
import type { SseResetData } from "../../protocol/index.ts";

/** Comment line that keeps proxies from closing a quiet stream. */
export const SSE_PING = ": ping\n\n";

/** The event name of a payload: its string `type` when it has a usable one, else `publication`. */
function eventName(payload: string): string {
  let parsed: unknown;
  try {
    parsed = JSON.parse(payload);
  } catch {
    return "publication";
  }
  const type = (parsed as { type?: unknown } | null)?.type;
  // A line break in the name would end the field early and forge the rest of the event.
  if (typeof type !== "string" || type.length === 0 || type.length > 64 || /[\r\n]/.test(type)) return "publication";
  return type;
}

/** The payload JSON (an object, serialised by the server) with `"seq": N` added last, so it wins over any seq of its own. */
export function withSeq(payload: string, seq: number): string {
  return payload === "{}" ? `{"seq":${seq}}` : `${payload.slice(0, -1)},"seq":${seq}}`;
}

/** An event that only moves the stream's position: clients record the id, nothing is dispatched. */
export function positionEvent(epoch: string, seq: number): string {
  return `id: ${epoch}:${seq}\n\n`;
}

export const sseWire: Wire = {
  publication: (publication) =>
    `id: ${publication.epoch}:${publication.seq}\nevent: ${eventName(publication.payload)}\ndata: ${withSeq(publication.payload, publication.seq)}\n\n`,
  // A live start gives the stream its position, so a cut before the first publication still resumes
  // exactly; a lost position is a reset event at the current one. A recovered one repeats the client's
  // own position, the replay following from it: the response must start with bytes, or Bun holds back
  // its headers (and the client waits) until the first publication or ping.
  subscribed(_channel, state, _id, outcome) {
    if (outcome === undefined) return positionEvent(state.epoch, state.seq);
    if (outcome.recovered) return positionEvent(state.epoch, state.seq - outcome.replayed);
    const reset: SseResetData = { epoch: state.epoch, seq: state.seq };
    return `id: ${state.epoch}:${state.seq}\nevent: reset\ndata: ${JSON.stringify(reset)}\n\n`;
  },
  // The stream just ends: a client that reconnects resumes from its last id on another node.
  shutdown: () => undefined,
};
