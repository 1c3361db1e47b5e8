// Presence on the wire (docs/protocol.md section 14): the query, its answer, and the join / leave / update
// frames, single or coalesced into one diff; both directions, for the server, the SDK and the tests.

import { Type, type Static } from "@sinclair/typebox";
import { AGENT_STATES } from "./agent-state.ts";
import { literalUnion } from "./literal-union.ts";

export { AGENT_USER, agentStateAfter } from "./agent-state.ts";
import { ChannelName, RequestId } from "./schemas.ts";

/** The agent's states while it is present on a thread. */
export const AgentState = literalUnion(...AGENT_STATES);
export type AgentState = Static<typeof AgentState>;

/** Most clients in one page of a presence query, and how many when the query names no limit. */
export const MAX_PRESENCE_PAGE = 1000;
export const DEFAULT_PRESENCE_PAGE = 100;

/** The query on the `subscription` channel. */
export const PresenceQueryPayload = Type.Object({
  action: Type.Literal("presence"),
  channel: ChannelName,
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: MAX_PRESENCE_PAGE })),
  cursor: Type.Optional(Type.String({ minLength: 1, maxLength: 256 })),
});
export type PresenceQueryPayload = Static<typeof PresenceQueryPayload>;

/** One present client: a connection, or the agent while it runs (with its state). */
export const PresentClient = Type.Object({
  user: Type.String(),
  client: Type.String(),
  /** When it joined, seconds since epoch. */
  since: Type.Number(),
  state: Type.Optional(AgentState),
});
export type PresentClient = Static<typeof PresentClient>;

/** The answer to the query, and the body of `GET /channels/:channel/presence`. */
export const PresencePayload = Type.Object({
  status: Type.Literal("presence"),
  channel: ChannelName,
  clients: Type.Array(PresentClient),
  /** Present when more clients follow: pass it as `cursor` for the next page. */
  next_cursor: Type.Optional(Type.String()),
});
export type PresencePayload = Static<typeof PresencePayload>;

export const PresenceAnswerFrame = Type.Object({ channel: Type.Literal("subscription"), id: Type.Optional(RequestId), payload: PresencePayload });
export type PresenceAnswerFrame = Static<typeof PresenceAnswerFrame>;

const Who = { user: Type.String(), client: Type.String() };

/** One change: a client joined or left, or the agent's state changed. */
export const PresenceChange = Type.Object({
  action: literalUnion("join", "leave", "update"),
  ...Who,
  state: Type.Optional(AgentState),
});
export type PresenceChange = Static<typeof PresenceChange>;

/** Several changes coalesced into one frame: apply `leaves`, then `joins` (add or replace), then `updates`. */
export const PresenceDiff = Type.Object({
  action: Type.Literal("diff"),
  joins: Type.Array(Type.Object({ ...Who, state: Type.Optional(AgentState) })),
  leaves: Type.Array(Type.Object(Who)),
  updates: Type.Array(Type.Object({ ...Who, state: AgentState })),
});
export type PresenceDiff = Static<typeof PresenceDiff>;

/** A presence frame: no `seq`, no `payload`, never in history. */
export const PresenceFrame = Type.Object({ channel: ChannelName, presence: Type.Union([PresenceChange, PresenceDiff]) });
export type PresenceFrame = Static<typeof PresenceFrame>;

export function presenceFrame(channel: string, presence: PresenceChange | PresenceDiff): string {
  return JSON.stringify({ channel, presence });
}

export function presenceAnswerFrame(payload: PresencePayload, id: string | undefined): string {
  return JSON.stringify(id === undefined ? { channel: "subscription", payload } : { channel: "subscription", id, payload });
}

/**
 * The net effect of `changes` (oldest first) for a subscriber that saw none of them: a client that
 * joined and left within them is not mentioned; one that left and came back is a join.
 */
export function presenceDiff(changes: readonly PresenceChange[]): PresenceDiff {
  const net = new Map<string, { first: PresenceChange; last: PresenceChange; left: boolean }>();
  for (const change of changes) {
    const known = net.get(change.client);
    if (known) {
      known.last = change;
      known.left ||= change.action === "leave";
    } else net.set(change.client, { first: change, last: change, left: change.action === "leave" });
  }
  const diff: PresenceDiff = { action: "diff", joins: [], leaves: [], updates: [] };
  for (const { first, last, left } of net.values()) {
    const who = { user: last.user, client: last.client };
    const state = last.state;
    // A client that joined and left within the interval is still a leave: a query answered meanwhile
    // may have listed it, and a leave of a client the subscriber does not know changes nothing.
    if (last.action === "leave") diff.leaves.push(who);
    else if (first.action === "join" || left) {
      diff.joins.push(state === undefined ? who : { ...who, state });
    } else if (state !== undefined) {
      diff.updates.push({ ...who, state });
    }
  }
  return diff;
}

