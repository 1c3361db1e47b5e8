// The single-process presence engine: a map per channel, changes announced synchronously.

import type { AgentState, PresentClient } from "../protocol/index.ts";
import type { Presence, PresenceEvent, PresenceListener, PresencePage } from "./presence.ts";

/**
 * One present client, without its id (the map's key): the user and the join time, plus the agent's state.
 * Two or three fields rather than a PresentClient with its id repeated; memory is per present client.
 */
interface Entry {
  user: string;
  since: number;
  state: AgentState | undefined;
}

const DONE: Promise<void> = Promise.resolve();

export class MemoryPresence implements Presence {
  private readonly channels = new Map<string, Map<string, Entry>>();
  private listener: PresenceListener = () => {};

  /** Present clients on every channel, for the benchmark. */
  get size(): number {
    let size = 0;
    for (const clients of this.channels.values()) size += clients.size;
    return size;
  }

  join(channel: string, { user, client, since, state }: PresentClient): Promise<void> {
    let clients = this.channels.get(channel);
    if (!clients) this.channels.set(channel, (clients = new Map()));
    if (clients.has(client)) return DONE;
    clients.set(client, { user, since, state });
    this.emit({ channel, change: state === undefined ? { action: "join", user, client } : { action: "join", user, client, state } });
    return DONE;
  }

  leave(channel: string, client: string): Promise<void> {
    const clients = this.channels.get(channel);
    const entry = clients?.get(client);
    if (!entry) return DONE;
    clients!.delete(client);
    if (clients!.size === 0) this.channels.delete(channel);
    this.emit({ channel, change: { action: "leave", user: entry.user, client } });
    return DONE;
  }

  update(channel: string, client: string, state: AgentState): Promise<void> {
    const entry = this.channels.get(channel)?.get(client);
    if (!entry || entry.state === state) return DONE;
    entry.state = state;
    this.emit({ channel, change: { action: "update", user: entry.user, client, state } });
    return DONE;
  }

  async list(channel: string, limit: number, cursor: string | undefined): Promise<PresencePage> {
    const clients = this.channels.get(channel);
    if (!clients) return { clients: [] };
    // Sorted per page rather than kept sorted per join: joins are frequent, queries rare.
    const ids = [...clients.keys()].filter((id) => cursor === undefined || id > cursor).sort();
    const page = ids.slice(0, limit).map((client): PresentClient => {
      const { user, since, state } = clients.get(client)!;
      return state === undefined ? { user, client, since } : { user, client, since, state };
    });
    return ids.length > limit ? { clients: page, nextCursor: page.at(-1)!.client } : { clients: page };
  }

  watch(): Promise<void> {
    return DONE;
  }

  unwatch(): Promise<void> {
    return DONE;
  }

  onEvent(listener: PresenceListener): void {
    this.listener = listener;
  }

  async close(): Promise<void> {
    this.channels.clear();
  }

  private emit(event: PresenceEvent): void {
    this.listener(event);
  }
}
