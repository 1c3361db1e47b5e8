// Presence for the node's connections (docs/protocol.md section 14): every subscriber is present on its
// channel; those that asked get the channel's joins, leaves and updates, at most one frame per interval
// per channel, a burst coalesced into one diff. The engine behind it is in memory or on Redis; with the
// memory engine the node's connections stay out of it, present through the gateway's channel entries.

import { canSubscribe, canSubscribeByClaims, type Principal, type ThreadAccessLookup } from "../auth/principal.ts";
import { indexAfter } from "../broker/memory-presence.ts";
import type { Presence, PresencePage } from "../broker/presence.ts";
import type { Logger } from "../observability/log.ts";
import {
  DEFAULT_PRESENCE_PAGE,
  ErrorCode,
  ProtocolError,
  isReservedChannel,
  presenceAnswerFrame,
  presenceDiff,
  presenceFrame,
  threadIdOf,
  type PresenceChange,
  type PresencePayload,
  type PresentClient,
} from "../protocol/index.ts";
import type { Connection } from "./connection.ts";
import { addPresent, presentConnections, removePresent, sinceOf, type PresentMembers } from "./present-members.ts";

/** Frames per second a subscriber gets at most for one channel's presence. */
export const PRESENCE_FRAMES_PER_S = 10;

/**
 * The watchers of one channel on this node, each with where its part of `pending` starts (a watcher that
 * came in the middle of an interval gets only what happened after), and the changes held for the next frame.
 */
interface Watched {
  watchers: Map<Connection, number>;
  pending: PresenceChange[];
  lastFlushAt: number;
  timer: Timer | undefined;
}

const idOf = (connection: Connection): string => connection.id;

/**
 * Whether a change is about `connection` itself. A session writes its id out when asked
 * (src/gateway/connection-id.ts), so the user is compared first: only the user's own connections can match.
 */
const isSubject = (connection: Connection, change: PresenceChange): boolean =>
  connection.principal?.sub === change.user && connection.id === change.client;

export class PresenceHub {
  private readonly channels = new Map<string, Watched>();
  private readonly intervalMs = 1000 / PRESENCE_FRAMES_PER_S;
  // The connections of a channel with many, sorted by id for paging until the next join or leave there.
  private readonly sorted = new WeakMap<Map<Connection, number>, Connection[]>();

  /**
   * `members` gives the gateway's entry of a channel held on this node. Without it (a hub on its own),
   * or with an engine shared by several nodes, every presence is written to the engine.
   */
  constructor(
    readonly engine: Presence,
    private readonly access: ThreadAccessLookup,
    private readonly logger: Logger,
    private readonly members: (channel: string) => PresentMembers | undefined = () => undefined,
  ) {
    engine.onEvent((event) => this.deliver(event.channel, event.change));
  }

  /** Before a watching subscription's ack: the engine delivers the channel's changes to this node from now on. */
  async prepare(channel: string): Promise<void> {
    if (!this.channels.has(channel)) this.channels.set(channel, { watchers: new Map(), pending: [], lastFlushAt: 0, timer: undefined });
    await this.engine.watch(channel);
  }

  /** A subscription went live: the connection is present, and watches when it asked to. */
  enter(connection: Connection, channel: string, watching: boolean | undefined): void {
    const principal = connection.principal;
    if (!principal) return;
    const watched = this.channels.get(channel);
    if (watching && watched) watched.watchers.set(connection, watched.pending.length);
    else if (watched?.watchers.delete(connection)) this.dropIfUnwatched(channel, watched);
    const members = this.localMembers(channel);
    if (members) {
      if (addPresent(members, connection, Date.now() / 1000)) this.changedLocally(channel, members, "join", principal.sub, connection.id);
      return;
    }
    // The engine logs a failure: a handler here would be a promise and a closure per subscribe.
    void this.engine.join(channel, { user: principal.sub, client: connection.id, since: Date.now() / 1000 });
  }

  /** A subscription ended (or failed before going live). */
  exit(connection: Connection, channel: string): void {
    const watched = this.channels.get(channel);
    if (watched) {
      watched.watchers.delete(connection);
      this.dropIfUnwatched(channel, watched);
    }
    const principal = connection.principal;
    if (!principal) return;
    const members = this.localMembers(channel);
    if (members) {
      if (removePresent(members, connection)) this.changedLocally(channel, members, "leave", principal.sub, connection.id);
      return;
    }
    void this.engine.leave(channel, connection.id);
  }

  /**
   * The presence query, allowed to whoever may subscribe to the channel: otherwise `not_found` for a
   * thread, so thread ids cannot be probed (section 14), and `forbidden` for any other channel.
   */
  async query(principal: Principal, channel: string, limit: number | undefined, cursor: string | undefined): Promise<PresencePayload> {
    if (!(await this.mayQuery(principal, channel))) {
      const threadId = threadIdOf(channel);
      if (threadId !== undefined) throw new ProtocolError(ErrorCode.notFound, `no thread ${threadId}`);
      throw new ProtocolError(ErrorCode.forbidden, `no subscribe permission on channel ${channel}`);
    }
    return this.page(channel, limit, cursor);
  }

  private async page(channel: string, limit = DEFAULT_PRESENCE_PAGE, cursor: string | undefined): Promise<PresencePayload> {
    const stored = await this.engine.list(channel, limit, cursor);
    const members = this.localMembers(channel);
    const page = members?.present === undefined ? stored : this.merge(members, stored, limit, cursor);
    const payload: PresencePayload = { status: "presence", channel, clients: page.clients };
    if (page.nextCursor !== undefined) payload.next_cursor = page.nextCursor;
    return payload;
  }

  /** The query from a socket, answered on `subscription` with its id. */
  async answer(connection: Connection, command: { id?: string; channel: string; limit?: number; cursor?: string }): Promise<void> {
    const payload = await this.query(connection.principal!, command.channel, command.limit, command.cursor);
    connection.send(presenceAnswerFrame(payload, command.id));
  }

  mayQuery(principal: Principal, channel: string): Promise<boolean> | boolean {
    if (isReservedChannel(channel)) return false;
    return canSubscribeByClaims(principal, channel) || canSubscribe(principal, channel, this.access);
  }

  /** The gateway's entry of the channel when the node's connections are kept there rather than in the engine. */
  private localMembers(channel: string): PresentMembers | undefined {
    return this.engine.local ? this.members(channel) : undefined;
  }

  /** A connection of this node joined or left: its order is redone at the next query, and watchers are told. */
  private changedLocally(channel: string, members: PresentMembers, action: "join" | "leave", user: string, client: string): void {
    if (members.present instanceof Map) this.sorted.delete(members.present);
    // Nothing is made of a change nobody on the channel watches.
    if (this.channels.get(channel)?.watchers.size) this.deliver(channel, { action, user, client });
  }

  /** Sorted at each query while there are a few, once per change when there are many. */
  private sortedPresent(members: PresentMembers): readonly Connection[] {
    const { present } = members;
    let sorted = present instanceof Map ? this.sorted.get(present) : undefined;
    if (!sorted) {
      // Each id written out once, not at every comparison.
      const keyed = presentConnections(members).map((connection) => ({ id: connection.id, connection }));
      sorted = keyed.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)).map(({ connection }) => connection);
      if (present instanceof Map) this.sorted.set(present, sorted);
    }
    return sorted;
  }

  /** One page in client order from the node's connections and the engine's page of its own entries (the agent). */
  private merge(members: PresentMembers, stored: PresencePage, limit: number, cursor: string | undefined): PresencePage {
    const connections = this.sortedPresent(members);
    let local = cursor === undefined ? 0 : indexAfter(connections, cursor, idOf);
    let other = 0;
    const clients: PresentClient[] = [];
    while (clients.length < limit && (local < connections.length || other < stored.clients.length)) {
      const connection = connections[local];
      const next = stored.clients[other];
      if (connection && (!next || connection.id < next.client)) {
        clients.push({ user: connection.principal!.sub, client: connection.id, since: sinceOf(members, connection) });
        local++;
      } else {
        clients.push(next!);
        other++;
      }
    }
    const more = local < connections.length || other < stored.clients.length || stored.nextCursor !== undefined;
    return more ? { clients, nextCursor: clients.at(-1)!.client } : { clients };
  }

  private dropIfUnwatched(channel: string, watched: Watched): void {
    if (watched.watchers.size > 0 || this.channels.get(channel) !== watched) return;
    clearTimeout(watched.timer);
    this.channels.delete(channel);
    this.engine.unwatch(channel).catch((error) => this.logger.warn("presence unwatch failed", { channel, error }));
  }

  private deliver(channel: string, change: PresenceChange): void {
    const watched = this.channels.get(channel);
    if (!watched || watched.watchers.size === 0) return;
    const now = performance.now();
    if (watched.timer === undefined && now - watched.lastFlushAt >= this.intervalMs) {
      // Quiet until now: the change goes out at once, in the single-change shape.
      watched.lastFlushAt = now;
      const text = presenceFrame(channel, change);
      for (const connection of watched.watchers.keys()) if (!isSubject(connection, change)) connection.send(text);
      return;
    }
    watched.pending.push(change);
    watched.timer ??= setTimeout(() => this.flush(channel, watched), watched.lastFlushAt + this.intervalMs - now);
  }

  /** The changes held over the interval, one frame per watcher: the change itself when alone, else their diff. */
  private flush(channel: string, watched: Watched): void {
    const now = performance.now();
    // A timer may fire a fraction of a millisecond early: the interval is kept to the letter.
    const early = watched.lastFlushAt + this.intervalMs - now;
    if (early > 0) {
      watched.timer = setTimeout(() => this.flush(channel, watched), early);
      return;
    }
    watched.timer = undefined;
    watched.lastFlushAt = now;
    const changes = watched.pending;
    watched.pending = [];
    let shared: string | undefined;
    for (const [connection, from] of watched.watchers) {
      watched.watchers.set(connection, 0);
      // Most watchers share the frame; one that came late, or is itself among the changes, gets its own.
      if (from === 0 && !changes.some((change) => isSubject(connection, change))) {
        shared ??= this.frame(channel, changes);
        if (shared !== "") connection.send(shared);
        continue;
      }
      const own = this.frame(channel, changes.slice(from).filter((change) => !isSubject(connection, change)));
      if (own !== "") connection.send(own);
    }
  }

  /** One frame for `changes`, or "" when they leave nothing to tell. */
  private frame(channel: string, changes: PresenceChange[]): string {
    if (changes.length === 0) return "";
    if (changes.length === 1) return presenceFrame(channel, changes[0]!);
    const diff = presenceDiff(changes);
    if (diff.joins.length + diff.leaves.length + diff.updates.length === 0) return "";
    return presenceFrame(channel, diff);
  }
}
