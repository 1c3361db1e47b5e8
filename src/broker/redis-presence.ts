// The presence engine on Redis (docs/protocol.md section 14): one view across nodes. Each node owns the
// entries of its clients and heartbeats; the entries of a node that stopped heartbeating are taken away,
// with a leave for each, by whichever node notices first. A node's id is new at every start, so a
// restarted node never brings back the entries of its previous life.

import type { Logger } from "../observability/log.ts";
import type { AgentState, PresenceChange, PresentClient } from "../protocol/index.ts";
import type { Presence, PresenceListener, PresencePage } from "./presence.ts";
import type { RedisConnection } from "./redis-connection.ts";
import { RedisScript } from "./redis-scripts.ts";
import type { RedisSubscriber } from "./redis-subscriber.ts";

/**
 * Key layout, `P` the prefix, `C` a channel, `N` a node id:
 *   P{C}:present      hash client -> {"user","since","node","state"?}
 *   P{C}:present-ix   sorted set of the clients, all at score 0, for pages in client order (ZRANGEBYLEX)
 *   P{C}:presence     pub/sub channel: a JSON array of changes
 *   Ppresence:nodes   sorted set of node ids by when their heartbeat runs out (ms of Redis's clock)
 *   Ppresence:node:N  hash "<channel>\n<client>" -> user: what node N must take away when it dies
 */
export function presenceKeys(prefix: string, channel: string): { present: string; index: string; events: string } {
  const base = `${prefix}{${channel}}`;
  return { present: `${base}:present`, index: `${base}:present-ix`, events: `${base}:presence` };
}

const NOW_MS = `local clock = redis.call('TIME')
local now = tonumber(clock[1]) * 1000 + math.floor(tonumber(clock[2]) / 1000)
`;

// KEYS: node hash. ARGV: prefix, then joins and leaves in order: "j", channel, client, entry, user, the
// join as JSON; or "l", channel, client. A join of a present client and a leave of an absent one change
// nothing and announce nothing; each channel's changes go out as one message.
const APPLY = new RedisScript(`
local prefix = ARGV[1]
local changes, channels = {}, {}
local function announce(channel, change)
  if not changes[channel] then
    changes[channel] = {}
    table.insert(channels, channel)
  end
  table.insert(changes[channel], change)
end
local index = 2
while index <= #ARGV do
  local channel, client = ARGV[index + 1], ARGV[index + 2]
  local present = prefix .. '{' .. channel .. '}:present'
  if ARGV[index] == 'j' then
    if redis.call('HSETNX', present, client, ARGV[index + 3]) == 1 then
      redis.call('ZADD', present .. '-ix', 0, client)
      redis.call('HSET', KEYS[1], channel .. '\\n' .. client, ARGV[index + 4])
      announce(channel, ARGV[index + 5])
    end
    index = index + 6
  else
    local entry = redis.call('HGET', present, client)
    if entry then
      redis.call('HDEL', present, client)
      redis.call('ZREM', present .. '-ix', client)
      redis.call('HDEL', KEYS[1], channel .. '\\n' .. client)
      announce(channel, cjson.encode({action = 'leave', user = cjson.decode(entry).user, client = client}))
    end
    index = index + 3
  end
end
for _, channel in ipairs(channels) do
  redis.call('PUBLISH', prefix .. '{' .. channel .. '}:presence', '[' .. table.concat(changes[channel], ',') .. ']')
end
return #channels
`);

// Joins and leaves per script call at most: a storm's batch is cut so that no call holds Redis for long.
const MAX_BATCH = 500;

// KEYS: present. ARGV: client, state, events channel.
const UPDATE = new RedisScript(`
local entry = redis.call('HGET', KEYS[1], ARGV[1])
if not entry then return 0 end
local value = cjson.decode(entry)
if value.state == ARGV[2] then return 0 end
value.state = ARGV[2]
redis.call('HSET', KEYS[1], ARGV[1], cjson.encode(value))
redis.call('PUBLISH', ARGV[3], cjson.encode({{action = 'update', user = value.user, client = ARGV[1], state = ARGV[2]}}))
return 1
`);

// KEYS: nodes. ARGV: node, ttl ms. A heartbeat: the node counts as alive until now + ttl.
const HEARTBEAT = new RedisScript(`${NOW_MS}
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
return now
`);

// KEYS: nodes. The nodes whose heartbeat ran out.
const DEAD = new RedisScript(`${NOW_MS}
return redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '(' .. now, 'LIMIT', 0, 16)
`);

// KEYS: nodes, node hash. ARGV: node, prefix, "force" to take a live node's entries (its own close).
// Whoever removes the node from the sorted set takes its entries: one node only, however many reap at once.
const REAP = new RedisScript(`${NOW_MS}
local expiry = redis.call('ZSCORE', KEYS[1], ARGV[1])
if ARGV[3] ~= 'force' and (not expiry or tonumber(expiry) >= now) then return 0 end
redis.call('ZREM', KEYS[1], ARGV[1])
local fields = redis.call('HGETALL', KEYS[2])
local leaves = {}
for index = 1, #fields, 2 do
  local field, user = fields[index], fields[index + 1]
  local at = string.find(field, '\\n', 1, true)
  local channel, client = string.sub(field, 1, at - 1), string.sub(field, at + 1)
  local base = ARGV[2] .. '{' .. channel .. '}'
  if redis.call('HDEL', base .. ':present', client) == 1 then
    redis.call('ZREM', base .. ':present-ix', client)
    leaves[channel] = leaves[channel] or {}
    table.insert(leaves[channel], {action = 'leave', user = user, client = client})
  end
end
redis.call('DEL', KEYS[2])
for channel, list in pairs(leaves) do
  redis.call('PUBLISH', ARGV[2] .. '{' .. channel .. '}:presence', cjson.encode(list))
end
return #fields / 2
`);

// KEYS: present, index, nodes. ARGV: from (ZRANGEBYLEX min), limit. Returns the next cursor ("" on the
// last page), then client, entry pairs of the page's clients whose node is alive.
const LIST = new RedisScript(`${NOW_MS}
local limit = tonumber(ARGV[2])
local ids = redis.call('ZRANGEBYLEX', KEYS[2], ARGV[1], '+', 'LIMIT', 0, limit + 1)
local result = {''}
if #ids > limit then
  table.remove(ids)
  result[1] = ids[#ids]
end
local alive = {}
for _, id in ipairs(ids) do
  local entry = redis.call('HGET', KEYS[1], id)
  if entry then
    local node = cjson.decode(entry).node
    if alive[node] == nil then
      local expiry = redis.call('ZSCORE', KEYS[3], node)
      alive[node] = expiry ~= false and tonumber(expiry) >= now
    end
    if alive[node] then
      table.insert(result, id)
      table.insert(result, entry)
    end
  end
end
return result
`);

export interface RedisPresenceOptions {
  nodeId: string;
  prefix: string;
  commands: RedisConnection;
  subscriber: RedisSubscriber;
  logger: Logger;
  /** How long a node's entries outlive its last heartbeat; heartbeats and sweeps run three times as often. */
  nodeTtlMs: number;
}

interface StoredEntry {
  user: string;
  since: number;
  node: string;
  state?: AgentState;
}

const DONE: Promise<void> = Promise.resolve();

export class RedisPresence implements Presence {
  readonly local = false;
  private listener: PresenceListener = () => {};
  private readonly watched = new Map<string, Promise<void>>();
  private readonly nodesKey: string;
  private readonly nodeKey: string;
  private readonly timer: Timer;
  private closed = false;
  // Joins and leaves made in this turn of the event loop, written together when it ends: in a reconnect
  // storm thousands of subscribes make a few script calls rather than one each (a call is a promise chain
  // and a timer on this node, and a script run on Redis). `written` settles once they are in Redis.
  private batch: string[] = [];
  private batchSize = 0;
  private written: PromiseWithResolvers<void> | undefined;

  private constructor(private readonly options: RedisPresenceOptions) {
    this.nodesKey = `${options.prefix}presence:nodes`;
    this.nodeKey = `${options.prefix}presence:node:${options.nodeId}`;
    this.timer = setInterval(() => void this.upkeep(), Math.max(100, options.nodeTtlMs / 3));
    this.timer.unref();
  }

  /** Heartbeats once before resolving, so this node's entries count as alive from its first join. */
  static async open(options: RedisPresenceOptions): Promise<RedisPresence> {
    const presence = new RedisPresence(options);
    try {
      await presence.heartbeat();
    } catch (error) {
      clearInterval(presence.timer);
      throw error;
    }
    return presence;
  }

  join(channel: string, { user, client, since, state }: PresentClient): Promise<void> {
    const entry: StoredEntry = { user, since, node: this.options.nodeId };
    const change: PresenceChange = { action: "join", user, client };
    if (state !== undefined) entry.state = change.state = state;
    this.batch.push("j", channel, client, JSON.stringify(entry), user, JSON.stringify(change));
    return this.queued();
  }

  leave(channel: string, client: string): Promise<void> {
    this.batch.push("l", channel, client);
    return this.queued();
  }

  async update(channel: string, client: string, state: AgentState): Promise<void> {
    const keys = presenceKeys(this.options.prefix, channel);
    // Commands on one connection run in order: the joins before it are in Redis when it runs.
    void this.flush();
    await UPDATE.run(this.options.commands, [keys.present], [client, state, keys.events]);
  }

  async list(channel: string, limit: number, cursor: string | undefined): Promise<PresencePage> {
    const keys = presenceKeys(this.options.prefix, channel);
    const from = cursor === undefined ? "-" : `(${cursor}`;
    void this.flush();
    const [next, ...pairs] = (await LIST.run(this.options.commands, [keys.present, keys.index, this.nodesKey], [from, String(limit)])) as string[];
    const clients: PresentClient[] = [];
    for (let index = 0; index < pairs.length; index += 2) {
      const { user, since, state } = JSON.parse(pairs[index + 1]!) as StoredEntry;
      const client = pairs[index]!;
      clients.push(state === undefined ? { user, client, since } : { user, client, since, state });
    }
    return next ? { clients, nextCursor: next } : { clients };
  }

  watch(channel: string): Promise<void> {
    let watching = this.watched.get(channel);
    if (!watching) {
      watching = this.options.subscriber.subscribe(presenceKeys(this.options.prefix, channel).events, (message) => this.receive(channel, message));
      this.watched.set(channel, watching);
      watching.catch(() => {
        if (this.watched.get(channel) === watching) this.watched.delete(channel);
      });
    }
    return watching;
  }

  async unwatch(channel: string): Promise<void> {
    if (!this.watched.delete(channel)) return;
    await this.options.subscriber.unsubscribe(presenceKeys(this.options.prefix, channel).events);
  }

  onEvent(listener: PresenceListener): void {
    this.listener = listener;
  }

  /** Takes this node's remaining entries away at once, with their leaves, rather than waiting for the others to notice. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.timer);
    await this.flush().catch(() => {});
    await REAP.run(this.options.commands, [this.nodesKey, this.nodeKey], [this.options.nodeId, this.options.prefix, "force"]).catch((error) =>
      this.options.logger.warn("could not take this node's presence away", { error }),
    );
    for (const channel of [...this.watched.keys()]) await this.unwatch(channel).catch(() => {});
  }

  /** After a join or leave was added to the batch: resolves once the batch is in Redis. */
  private queued(): Promise<void> {
    if (!this.written) {
      this.written = Promise.withResolvers<void>();
      // Logged once for the batch in flush; callers need not handle it.
      this.written.promise.catch(() => {});
      setImmediate(() => void this.flush());
    }
    const { promise } = this.written;
    if (++this.batchSize >= MAX_BATCH) void this.flush();
    return promise;
  }

  /** Sends the joins and leaves gathered so far; resolves once Redis has them. */
  private flush(): Promise<void> {
    const written = this.written;
    if (!written) return DONE;
    const { batch, batchSize } = this;
    this.written = undefined;
    this.batch = [];
    this.batchSize = 0;
    APPLY.run(this.options.commands, [this.nodeKey], [this.options.prefix, ...batch]).then(
      () => written.resolve(),
      (error) => {
        this.options.logger.warn("presence joins and leaves failed", { writes: batchSize, error });
        written.reject(error);
      },
    );
    return written.promise;
  }

  private heartbeat(): Promise<unknown> {
    return HEARTBEAT.run(this.options.commands, [this.nodesKey], [this.options.nodeId, String(Math.ceil(this.options.nodeTtlMs))]);
  }

  /** The heartbeat, and the entries of nodes whose heartbeat ran out taken away. */
  private async upkeep(): Promise<void> {
    try {
      await this.heartbeat();
      const dead = (await DEAD.run(this.options.commands, [this.nodesKey], [])) as string[];
      for (const node of dead) {
        const taken = await REAP.run(this.options.commands, [this.nodesKey, `${this.options.prefix}presence:node:${node}`], [node, this.options.prefix, ""]);
        if (Number(taken) > 0) this.options.logger.info("took away the presence of a node that stopped", { node, clients: Number(taken) });
      }
    } catch (error) {
      this.options.logger.warn("presence upkeep failed", { error });
    }
  }

  private receive(channel: string, message: string): void {
    let changes: PresenceChange[];
    try {
      changes = JSON.parse(message) as PresenceChange[];
      if (!Array.isArray(changes)) throw new Error("not an array");
    } catch (error) {
      this.options.logger.warn("ignored a malformed presence message", { channel, error });
      return;
    }
    for (const change of changes) this.listener({ channel, change });
  }
}
