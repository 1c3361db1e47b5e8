// The single-process presence engine: the clients of each channel in memory, changes announced synchronously.

import type { AgentState, PresentClient } from "../protocol/index.ts";
import type { Presence, PresenceListener, PresencePage } from "./presence.ts";

/** One present client. Its strings are the connection's own (id, user), so an entry costs its fields only. */
interface Entry {
  client: string;
  user: string;
  since: number;
  state: AgentState | undefined;
}

/**
 * A channel's clients: the entry itself while there is one, a Map from client id past that. Most channels
 * have one subscriber (a user's own channel), and a Map costs ~250 bytes more; memory is per present client
 * (bench/presence.ts measures it).
 */
type Clients = Entry | Map<string, Entry>;

const DONE: Promise<void> = Promise.resolve();
const itself = (id: string): string => id;

function find(clients: Clients | undefined, client: string): Entry | undefined {
  if (clients === undefined) return undefined;
  if (clients instanceof Map) return clients.get(client);
  return clients.client === client ? clients : undefined;
}

/** The first index in `sorted` (ordered by `idOf`) whose id is above `cursor`. */
export function indexAfter<T>(sorted: readonly T[], cursor: string, idOf: (item: T) => string): number {
  let low = 0;
  let high = sorted.length;
  while (low < high) {
    const middle = (low + high) >>> 1;
    if (idOf(sorted[middle]!) <= cursor) low = middle + 1;
    else high = middle;
  }
  return low;
}

export class MemoryPresence implements Presence {
  readonly local = true;
  private readonly channels = new Map<string, Clients>();
  // The client ids of a channel with many, sorted for paging, until the next join or leave there: a
  // query is then a binary search, not a sort, however often a client asks.
  private readonly sorted = new WeakMap<Map<string, Entry>, string[]>();
  // Changes of other channels are not even made into events: nobody on this node would read them.
  private readonly watched = new Set<string>();
  private listener: PresenceListener = () => {};

  /** Present clients on every channel, for the benchmark. */
  get size(): number {
    let size = 0;
    for (const clients of this.channels.values()) size += clients instanceof Map ? clients.size : 1;
    return size;
  }

  join(channel: string, { user, client, since, state }: PresentClient): void {
    const clients = this.channels.get(channel);
    if (find(clients, client)) return;
    const entry: Entry = { client, user, since, state };
    if (clients === undefined) this.channels.set(channel, entry);
    else if (clients instanceof Map) {
      clients.set(client, entry);
      this.sorted.delete(clients);
    }
    else this.channels.set(channel, new Map([[clients.client, clients], [client, entry]]));
    if (this.watched.has(channel)) this.listener({ channel, change: state === undefined ? { action: "join", user, client } : { action: "join", user, client, state } });
  }

  leave(channel: string, client: string): void {
    const clients = this.channels.get(channel);
    const entry = find(clients, client);
    if (!entry) return;
    if (clients instanceof Map) {
      clients.delete(client);
      this.sorted.delete(clients);
      if (clients.size === 1) this.channels.set(channel, clients.values().next().value!);
    } else {
      this.channels.delete(channel);
    }
    if (this.watched.has(channel)) this.listener({ channel, change: { action: "leave", user: entry.user, client } });
  }

  update(channel: string, client: string, state: AgentState): Promise<void> {
    const entry = find(this.channels.get(channel), client);
    if (!entry || entry.state === state) return DONE;
    entry.state = state;
    if (this.watched.has(channel)) this.listener({ channel, change: { action: "update", user: entry.user, client, state } });
    return DONE;
  }

  async list(channel: string, limit: number, cursor: string | undefined): Promise<PresencePage> {
    const clients = this.channels.get(channel);
    if (clients === undefined) return { clients: [] };
    const map = clients instanceof Map ? clients : new Map([[clients.client, clients]]);
    let ids = this.sorted.get(map);
    if (!ids) {
      ids = [...map.keys()].sort();
      this.sorted.set(map, ids);
    }
    const start = cursor === undefined ? 0 : indexAfter(ids, cursor, itself);
    const page = ids.slice(start, start + limit).map((client): PresentClient => {
      const { user, since, state } = map.get(client)!;
      return state === undefined ? { user, client, since } : { user, client, since, state };
    });
    return start + limit < ids.length ? { clients: page, nextCursor: page.at(-1)!.client } : { clients: page };
  }

  watch(channel: string): Promise<void> {
    this.watched.add(channel);
    return DONE;
  }

  unwatch(channel: string): Promise<void> {
    this.watched.delete(channel);
    return DONE;
  }

  onEvent(listener: PresenceListener): void {
    this.listener = listener;
  }

  async close(): Promise<void> {
    this.channels.clear();
    this.watched.clear();
  }
}
