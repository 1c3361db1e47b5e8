// The multi-node engine: seq, epoch and history of every channel live in Redis, publications fan out over pub/sub.

import { createLogger, type Logger } from "../observability/log.ts";
import type { Broker, ChannelState, Publication, PublicationListener, Recovery } from "./broker.ts";
import { newEpoch } from "./memory-broker.ts";
import { RedisBarrier } from "./redis-barrier.ts";
import { RedisConnection } from "./redis-connection.ts";
import { publicationCost, redisChannelCost, redisMetaCost } from "./history-cost.ts";
import { evictScript, expireScript, expiryCandidatesScript, publishScript, recoverScript, stateScript } from "./redis-scripts.ts";
import { RedisSubscriber } from "./redis-subscriber.ts";

export interface RedisBrokerOptions {
  url: string;
  /** Start of every key and pub/sub channel this broker touches, so several deployments can share one Redis. */
  prefix: string;
  historySize: number;
  /** A channel untouched for this long loses seq, epoch and history; the next use starts a new epoch. */
  historyTtlS: number;
  /**
   * Budget for all histories together, channels' own cost included, and every channel's seq and epoch from
   * its first use, published to or not (history-cost.ts); the least recently used channels lose history
   * first, then seq and epoch. HISTORY_MAX_BYTES's default when absent.
   */
  historyMaxBytes?: number;
  /** Budget for one channel's history; past it the oldest publications are dropped. HISTORY_CHANNEL_MAX_BYTES's default when absent. */
  historyChannelMaxBytes?: number;
  /** Longest wait for Redis before a call fails with `unavailable`; 2000 by default. */
  commandTimeoutMs?: number;
  logger?: Logger;
}

const DEFAULT_COMMAND_TIMEOUT_MS = 2000;
const READY_TIMEOUT_MS = 500;
const DEFAULT_HISTORY_MAX_BYTES = 256 * 1024 * 1024;
const DEFAULT_HISTORY_CHANNEL_MAX_BYTES = 16 * 1024 * 1024;
/** Channels handed to one eviction or expiry script. */
const BUDGET_BATCH = 16;
/** Eviction rounds one publish may run before giving up (it made no progress, or others keep publishing). */
const MAX_EVICTION_ROUNDS = 64;
/** Expiry batches one sweep may run; what is left waits for the next sweep. */
const MAX_SWEEP_BATCHES = 64;

/**
 * Key layout, `P` the prefix and `C` the channel; the `{C}` hash tag keeps a channel's keys in one
 * cluster slot (the budget keys do not share it: Redis Cluster is not supported):
 *   P{C}:meta     hash {epoch, seq, bytes and count (what its history holds, once published to)}, counted
 *                 from the script that creates it: alone at redisMetaCost, once published to at redisChannelCost
 *   P{C}:history  stream of the last publications within historySize (and up to a sixteenth more, trimmed
 *                 in batches) and historyChannelMaxBytes, entry id `<seq>-0`, fields p (payload),
 *                 o (origin), c (cost)
 *   P{C}:live     pub/sub channel: `{"seq":N,"epoch":"E","origin":"O"}\n<payload>`
 *   Phistory:bytes     the total counted against historyMaxBytes
 *   Phistory:channels  sorted set of the counted channels by last use: creation, publication, or a touch
 *                      the sweep or eviction found (µs of Redis's clock)
 *   Phistory:sizes     hash of what each counted channel costs, so one whose keys expired can be taken off
 * and, per broker instance `I`, the pub/sub channel `Psync:I` of its barrier (see `sync`).
 */
export function channelKeys(prefix: string, channel: string): { meta: string; history: string; live: string } {
  const base = `${prefix}{${channel}}`;
  return { meta: `${base}:meta`, history: `${base}:history`, live: `${base}:live` };
}

/** The keys that count all histories against the total budget. */
export function budgetKeys(prefix: string): { total: string; channels: string; sizes: string } {
  return { total: `${prefix}history:bytes`, channels: `${prefix}history:channels`, sizes: `${prefix}history:sizes` };
}

interface HistoryLimits {
  prefix: string;
  historySize: number;
  historyTtlS: number;
  historyMaxBytes: number;
  historyChannelMaxBytes: number;
}

export class RedisBroker implements Broker {
  private listener: PublicationListener = () => {};
  private readonly budget: string[];
  private readonly sweepTimer: Timer;
  private sweeping: Promise<number> | undefined;

  private constructor(
    /** The command connection, shared with a RedisControlBus on the same node. */
    readonly commands: RedisConnection,
    /** The pub/sub connection, shared with a RedisControlBus on the same node. */
    readonly subscriber: RedisSubscriber,
    private readonly barrier: RedisBarrier,
    private readonly options: HistoryLimits,
    readonly logger: Logger,
  ) {
    const keys = budgetKeys(options.prefix);
    this.budget = [keys.total, keys.channels, keys.sizes];
    // Channels whose keys expired are taken off the total here (or sooner, when eviction meets them).
    const sweep = () => this.sweepExpired().catch((error) => logger.debug("sweeping expired history failed", { error }));
    this.sweepTimer = setInterval(sweep, Math.min(options.historyTtlS * 1000, 60_000));
    this.sweepTimer.unref();
  }

  static async connect(options: RedisBrokerOptions): Promise<RedisBroker> {
    const logger = options.logger ?? createLogger("silent");
    const commandTimeoutMs = options.commandTimeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS;
    const connection = { url: options.url, commandTimeoutMs, logger };
    const commands = await RedisConnection.open({ ...connection, name: "commands" });
    let subscriber: RedisSubscriber | undefined;
    let barrier: RedisBarrier;
    try {
      subscriber = await RedisSubscriber.open(connection);
      barrier = await RedisBarrier.open(commands, subscriber, `${options.prefix}sync:${crypto.randomUUID()}`, commandTimeoutMs);
    } catch (error) {
      subscriber?.close();
      commands.close();
      throw error;
    }
    const { prefix, historySize, historyTtlS } = options;
    const historyMaxBytes = options.historyMaxBytes ?? DEFAULT_HISTORY_MAX_BYTES;
    const historyChannelMaxBytes = options.historyChannelMaxBytes ?? Math.min(DEFAULT_HISTORY_CHANNEL_MAX_BYTES, historyMaxBytes);
    const limits = { prefix, historySize, historyTtlS, historyMaxBytes, historyChannelMaxBytes };
    return new RedisBroker(commands, subscriber, barrier, limits, logger);
  }

  get prefix(): string {
    return this.options.prefix;
  }

  /** One script round trip; a second script only while all histories together are over budget. */
  async publish(channel: string, payload: string, origin?: string): Promise<Publication> {
    const { options } = this;
    const keys = channelKeys(options.prefix, channel);
    const reply = (await publishScript.run(
      this.commands,
      [keys.meta, keys.history, ...this.budget],
      [
        ...this.channelArguments(channel),
        String(options.historySize),
        keys.live,
        origin ?? "",
        payload,
        String(publicationCost(channel, payload, origin || undefined)),
        String(redisChannelCost(options.prefix, channel)),
        String(options.historyChannelMaxBytes),
      ],
    )) as unknown[];
    const { seq, epoch } = parseState(reply);
    // Awaited, so a flood of publications cannot outrun the eviction it causes.
    if (reply[2]) await this.evict(channel, reply[2] as string[]);
    return { channel, seq, epoch, payload, origin };
  }

  /** Like publish: creating the channel's meta counts, and may take the total over budget. */
  async state(channel: string): Promise<ChannelState> {
    const keys = channelKeys(this.options.prefix, channel);
    const reply = (await stateScript.run(this.commands, [keys.meta, keys.history, ...this.budget], this.channelArguments(channel))) as unknown[];
    // Awaited like a publication's, so that subscribing to ever new names cannot outrun it.
    if (reply[2]) await this.evict(channel, reply[2] as string[]);
    return parseState(reply);
  }

  async recover(channel: string, since: number, epoch: string | undefined): Promise<Recovery> {
    const keys = channelKeys(this.options.prefix, channel);
    const reply = (await recoverScript.run(
      this.commands,
      [keys.meta, keys.history, ...this.budget],
      [...this.channelArguments(channel), String(since), epoch ?? "", String(this.options.historySize)],
    )) as unknown[];
    const state = parseState(reply);
    if (reply[2] !== 1) {
      if (reply[3]) await this.evict(channel, reply[3] as string[]);
      return { state, publications: undefined };
    }
    const entries = reply[3] as Array<[string, string[]]>;
    const publications = entries.map(([id, fields]) => entryToPublication(channel, state.epoch, id, fields));
    return { state, publications };
  }

  listen(channel: string): Promise<void> {
    return this.subscriber.subscribe(channelKeys(this.options.prefix, channel).live, (message) => this.receive(channel, message));
  }

  unlisten(channel: string): Promise<void> {
    return this.subscriber.unsubscribe(channelKeys(this.options.prefix, channel).live);
  }

  onPublication(listener: PublicationListener): void {
    this.listener = listener;
  }

  /**
   * Publications reach this node over the subscriber connection, behind the command connection that
   * reads state: one marker round trip through the subscriber connection lets them catch up.
   */
  sync(): Promise<void> {
    return this.barrier.wait();
  }

  /** False while either connection is down or Redis does not answer PING within half a second. */
  async ready(): Promise<boolean> {
    const [commands, subscriber] = await Promise.all([this.commands.ping(READY_TIMEOUT_MS), this.subscriber.ping(READY_TIMEOUT_MS)]);
    return commands && subscriber;
  }

  /** What all histories together are counted at against historyMaxBytes, for tests and metrics. */
  async historyBytes(): Promise<number> {
    return Number((await this.commands.send("GET", [this.budget[0]!])) ?? 0);
  }

  /**
   * Stops counting channels whose keys expired by TTL, oldest publication first, a batch at a time.
   * Runs on a timer on every node (the scripts make concurrent sweeps harmless); returns how many went.
   */
  sweepExpired(): Promise<number> {
    return (this.sweeping ??= this.sweepBatches().finally(() => {
      this.sweeping = undefined;
    }));
  }

  async close(): Promise<void> {
    clearInterval(this.sweepTimer);
    this.barrier.close();
    this.subscriber.close();
    this.commands.close();
  }

  /** The arguments every channel script takes first (redis-scripts.ts). */
  private channelArguments(channel: string): string[] {
    const { prefix, historyTtlS, historyMaxBytes } = this.options;
    return [newEpoch(), String(historyTtlS), channel, String(redisMetaCost(prefix, channel)), String(historyMaxBytes), String(BUDGET_BATCH)];
  }

  /** Keys of the budget scripts: the budget's own, then meta and history of each channel named. */
  private budgetScriptKeys(channels: string[]): string[] {
    const keys = [...this.budget];
    for (const channel of channels) {
      const { meta, history } = channelKeys(this.options.prefix, channel);
      keys.push(meta, history);
    }
    return keys;
  }

  /**
   * `candidates` are name, score pairs of the least recently used channels, as the scripts return them;
   * `channel` is the one just published or created, which keeps its seq and epoch.
   */
  private async evict(channel: string, candidates: string[]): Promise<void> {
    try {
      for (let round = 0; round < MAX_EVICTION_ROUNDS && candidates.length > 0; round++) {
        const names = candidates.filter((_, index) => index % 2 === 0).map(String);
        const picked = names.flatMap((name, index) => [name, String(candidates[2 * index + 1]), channelKeys(this.options.prefix, name).live]);
        const args = [String(this.options.historyMaxBytes), channel, String(BUDGET_BATCH), ...picked];
        const [over, changed, next] = (await evictScript.run(this.commands, this.budgetScriptKeys(names), args)) as [number, number, string[]?];
        if (over !== 1 || !next) return;
        // Nothing could go and the same channels come first: only the publishing channel's seq and epoch are left.
        if (changed === 0 && next.map(String).join("\n") === candidates.map(String).join("\n")) return;
        candidates = next;
      }
    } catch (error) {
      // The publication itself is committed: failing it now would have the client publish it again.
      // The same for a meta just created: the seq and epoch it returns hold.
      this.logger.warn("dropping history over HISTORY_MAX_BYTES failed; the next publication or new channel tries again", { error });
    }
  }

  private async sweepBatches(): Promise<number> {
    const ttl = String(this.options.historyTtlS);
    let removed = 0;
    for (let batch = 0; batch < MAX_SWEEP_BATCHES; batch++) {
      const channels = ((await expiryCandidatesScript.run(this.commands, [this.budget[1]!], [ttl, String(BUDGET_BATCH)])) as unknown[]).map(String);
      if (channels.length === 0) break;
      removed += Number(await expireScript.run(this.commands, this.budgetScriptKeys(channels), [ttl, ...channels]));
      if (channels.length < BUDGET_BATCH) break;
    }
    return removed;
  }

  private receive(channel: string, message: string): void {
    const publication = decodeLiveMessage(channel, message);
    if (!publication) {
      this.logger.warn("ignored a malformed message on a Redis channel", { channel });
      return;
    }
    this.listener(publication);
  }
}

function parseState(reply: unknown): ChannelState {
  const [seq, epoch] = reply as [number, string];
  return { seq: Number(seq), epoch: String(epoch) };
}

function entryToPublication(channel: string, epoch: string, id: string, fields: string[]): Publication {
  let payload = "";
  let origin: string | undefined;
  for (let index = 0; index + 1 < fields.length; index += 2) {
    if (fields[index] === "p") payload = fields[index + 1]!;
    else if (fields[index] === "o") origin = fields[index + 1]!;
  }
  return { channel, seq: Number.parseInt(id, 10), epoch, payload, origin };
}

/** Reads `{"seq":N,"epoch":"E","origin":"O"}\n<payload>`; only the short header is parsed, the payload stays text. */
export function decodeLiveMessage(channel: string, message: string): Publication | undefined {
  const newline = message.indexOf("\n");
  if (newline < 0) return undefined;
  try {
    const header = JSON.parse(message.slice(0, newline)) as { seq?: unknown; epoch?: unknown; origin?: unknown };
    if (typeof header.seq !== "number" || typeof header.epoch !== "string") return undefined;
    const origin = typeof header.origin === "string" ? header.origin : undefined;
    return { channel, seq: header.seq, epoch: header.epoch, payload: message.slice(newline + 1), origin };
  } catch {
    return undefined;
  }
}
