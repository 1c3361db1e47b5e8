// The Presence contract: who is present on which channel, one view across nodes, and the changes as they
// happen (docs/protocol.md section 14). The gateway adapts it to frames; the agent enters its runs' threads.

import type { AgentState, PresenceChange, PresentClient } from "../protocol/index.ts";

/** A change on a channel, from any node. */
export interface PresenceEvent {
  channel: string;
  change: PresenceChange;
}

export type PresenceListener = (event: PresenceEvent) => void;

export interface PresencePage {
  clients: PresentClient[];
  /** Where the next page starts; absent on the last one. */
  nextCursor?: string;
}

export interface Presence {
  /**
   * True when this node is the whole view (the memory engine). The node's own connections are then not
   * written to the engine: the gateway's channel entries say who is present, and the hub lists and
   * announces them itself, so a subscribe adds no entry here. Other clients (the agent) still are.
   */
  readonly local: boolean;
  /**
   * Makes `client` present on `channel` for this node; announced as a join. A client already present is
   * left as it is. The engine logs a failed write itself; the promise, which writes made together may
   * share, is for a caller that must order later writes after this one. An engine done at once may
   * return nothing: a promise per subscribe is garbage, which shows in memory per connection.
   */
  join(channel: string, client: PresentClient): Promise<void> | void;
  /** Ends `client`'s presence; announced as a leave, unless it was not present. As `join` otherwise. */
  leave(channel: string, client: string): Promise<void> | void;
  /** Changes a present client's state; announced as an update. */
  update(channel: string, client: string, state: AgentState): Promise<void>;
  /** Up to `limit` present clients after `cursor`, ordered by client id, so pages neither skip nor repeat. */
  list(channel: string, limit: number, cursor: string | undefined): Promise<PresencePage>;
  /**
   * Deliver the channel's changes to this node's listener; resolves once none can be missed. Only
   * watched channels are delivered. Watching a watched channel again changes nothing.
   */
  watch(channel: string): Promise<void>;
  unwatch(channel: string): Promise<void>;
  /** The node's single listener. */
  onEvent(listener: PresenceListener): void;
  close(): Promise<void>;
}
