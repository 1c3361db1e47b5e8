// The multi-node engine: seq, epoch and history of every channel live in Redis, publications fan out over pub/sub.

import { createLogger, type Logger } from "../observability/log.ts";
import type { Broker, ChannelState, Publication, PublicationListener, Recovery } from "./broker.ts";
import { newEpoch } from "./memory-broker.ts";
import { RedisBarrier } from "./redis-barrier.ts";
import { RedisConnection } from "./redis-connection.ts";
import { publishScript, recoverScript, stateScript } from "./redis-scripts.ts";
import { RedisSubscriber } from "./redis-subscriber.ts";

export interface RedisBrokerOptions {
  url: string;
  /** Start of every key and pub/sub channel this broker touches, so several deployments can share one Redis. */
  prefix: string;
  historySize: number;
  /** A channel untouched for this long loses seq, epoch and history; the next use starts a new epoch. */
  historyTtlS: number;
  /** Longest wait for Redis before a call fails with `unavailable`; 2000 by default. */
  commandTimeoutMs?: number;
  logger?: Logger;
}

const DEFAULT_COMMAND_TIMEOUT_MS = 2000;
const READY_TIMEOUT_MS = 500;

/**
 * Key layout, `P` the prefix and `C` the channel; the `{C}` hash tag keeps a channel's keys in one
 * cluster slot, which its scripts need:
 *   P{C}:meta     hash {epoch, seq}
 *   P{C}:history  stream of the last historySize publications, entry id `<seq>-0`, fields p (payload), o (origin)
 *   P{C}:live     pub/sub channel: `{"seq":N,"epoch":"E","origin":"O"}\n<payload>`
 * and, per broker instance `I`, the pub/sub channel `Psync:I` of its barrier (see `sync`).
 */
export function channelKeys(prefix: string, channel: string): { meta: string; history: string; live: string } {
  const base = `${prefix}{${channel}}`;
  return { meta: `${base}:meta`, history: `${base}:history`, live: `${base}:live` };
}

export class RedisBroker implements Broker {
  private listener: PublicationListener = () => {};

  private constructor(
    /** The command connection, shared with a RedisControlBus on the same node. */
    readonly commands: RedisConnection,
    /** The pub/sub connection, shared with a RedisControlBus on the same node. */
    readonly subscriber: RedisSubscriber,
    private readonly barrier: RedisBarrier,
    private readonly options: Required<Pick<RedisBrokerOptions, "prefix" | "historySize" | "historyTtlS">>,
    readonly logger: Logger,
  ) {}

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
    return new RedisBroker(commands, subscriber, barrier, { prefix, historySize, historyTtlS }, logger);
  }

  get prefix(): string {
    return this.options.prefix;
  }

  async publish(channel: string, payload: string, origin?: string): Promise<Publication> {
    const keys = channelKeys(this.options.prefix, channel);
    const reply = await publishScript.run(
      this.commands,
      [keys.meta, keys.history],
      [newEpoch(), String(this.options.historyTtlS), String(this.options.historySize), keys.live, origin ?? "", payload],
    );
    const { seq, epoch } = parseState(reply);
    return { channel, seq, epoch, payload, origin };
  }

  async state(channel: string): Promise<ChannelState> {
    const keys = channelKeys(this.options.prefix, channel);
    return parseState(await stateScript.run(this.commands, [keys.meta, keys.history], [newEpoch(), String(this.options.historyTtlS)]));
  }

  async recover(channel: string, since: number, epoch: string | undefined): Promise<Recovery> {
    const keys = channelKeys(this.options.prefix, channel);
    const reply = (await recoverScript.run(
      this.commands,
      [keys.meta, keys.history],
      [newEpoch(), String(this.options.historyTtlS), String(since), epoch ?? ""],
    )) as unknown[];
    const state = parseState(reply);
    if (reply[2] !== 1) return { state, publications: undefined };
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

  async close(): Promise<void> {
    this.barrier.close();
    this.subscriber.close();
    this.commands.close();
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
