// The single-process engine: sequence numbers and history in memory, bounded by count, bytes and idle time.

import type { Broker, ChannelLocals, ChannelState, ImmediateBroker, Publication, PublicationListener, Recovery } from "./broker.ts";
import { History } from "./history.ts";
import { memoryChannelCost } from "./history-cost.ts";

export interface MemoryBrokerOptions {
  historySize: number;
  /** Channels with no listener and no publication for this long are forgotten (their epoch with them). */
  historyTtlS: number;
  /** Budget for all histories together, channels' own cost included; the least recently published channels lose history first. */
  historyMaxBytes: number;
  /** Budget for one channel's history; past it the channel's oldest publications are dropped. historyMaxBytes when absent. */
  historyChannelMaxBytes?: number;
  /** Most channels remembered; past it the least recently published unlistened ones are forgotten. */
  historyMaxChannels: number;
}

interface ChannelRecord {
  seq: number;
  /** The epoch is this broker's prefix and this number: a string for every listened channel would cost memory. */
  generation: number;
  /** Made on the first publication: most listened channels of an idle server never get one. */
  history: History | undefined;
  lastActivity: number;
  listened: boolean;
  /** The gateway's entry for the channel (ImmediateBroker.locals); while set, the record is kept. */
  local: unknown;
}

// One settled promise for the calls that have nothing to wait for, rather than a new one per subscribe.
const DONE: Promise<void> = Promise.resolve();

export function newEpoch(): string {
  return Buffer.from(crypto.getRandomValues(new Uint8Array(6))).toString("base64url");
}

// Kept as text by the history once the channel publishes (every publication carries it).
const epochOf = (prefix: string, record: ChannelRecord) => record.history?.epoch ?? prefix + record.generation.toString(36);

export class MemoryBroker implements Broker {
  // Map order is publication recency: a publish moves its channel to the end.
  private readonly channels = new Map<string, ChannelRecord>();
  // The channels holding history, in the same order: trimming walks these alone, not every record passed.
  private readonly published = new Map<string, ChannelRecord>();
  // The channels nobody listens to, the only ones that may be forgotten, least recently published or
  // unlistened first: forgetting and sweeping walk these alone, never the listened ones (one a connection).
  private readonly unlistened = new Map<string, ChannelRecord>();
  private listener: PublicationListener = () => {};
  private totalBytes = 0;
  // A new prefix per process and a new generation per channel record: any history loss changes the epoch.
  private readonly epochPrefix = newEpoch();
  private generations = 0;
  private readonly sweepTimer: Timer;
  private readonly channelMaxBytes: number;

  constructor(private readonly options: MemoryBrokerOptions) {
    this.channelMaxBytes = options.historyChannelMaxBytes ?? options.historyMaxBytes;
    const sweepMs = Math.min(options.historyTtlS * 1000, 60_000);
    this.sweepTimer = setInterval(() => this.sweep(Date.now()), sweepMs);
    this.sweepTimer.unref();
  }

  async publish(channel: string, payload: string, origin?: string): Promise<Publication> {
    const record = this.record(channel);
    this.channels.delete(channel);
    this.channels.set(channel, record);
    this.published.delete(channel);
    this.published.set(channel, record);
    if (!record.listened) {
      this.unlistened.delete(channel);
      this.unlistened.set(channel, record);
    }
    if (!record.history) {
      record.history = new History(epochOf(this.epochPrefix, record));
      this.totalBytes += memoryChannelCost(channel);
    }
    const history = record.history;
    const publication: Publication = { channel, seq: ++record.seq, epoch: history.epoch, payload, origin };
    this.totalBytes += history.push(publication, this.options.historySize, this.channelMaxBytes);
    record.lastActivity = Date.now();
    if (this.totalBytes > this.options.historyMaxBytes) this.trim();
    if (record.listened) this.listener(publication);
    return publication;
  }

  readonly immediate: ImmediateBroker = {
    listen: (channel) => this.listenNow(channel),
    state: (channel) => this.stateNow(channel),
    recover: (channel, since, epoch) => this.recoverNow(channel, since, epoch),
    locals: {
      get: (channel) => this.channels.get(channel)?.local,
      set: (channel, value) => {
        this.record(channel).local = value;
      },
      delete: (channel) => {
        const record = this.channels.get(channel);
        if (record) record.local = undefined;
      },
    } satisfies ChannelLocals<unknown>,
  };

  async state(channel: string): Promise<ChannelState> {
    return this.stateNow(channel);
  }

  async recover(channel: string, since: number, epoch: string | undefined): Promise<Recovery> {
    return this.recoverNow(channel, since, epoch);
  }

  private stateNow(channel: string): ChannelState {
    const record = this.record(channel);
    return { seq: record.seq, epoch: epochOf(this.epochPrefix, record) };
  }

  private recoverNow(channel: string, since: number, epoch: string | undefined): Recovery {
    const record = this.record(channel);
    const state = { seq: record.seq, epoch: epochOf(this.epochPrefix, record) };
    if (epoch !== state.epoch || since > record.seq) return { state, publications: undefined };
    if (since === record.seq) return { state, publications: [] };
    const oldest = record.history?.oldestSeq();
    if (oldest === undefined || oldest > since + 1) return { state, publications: undefined };
    return { state, publications: record.history!.after(since) };
  }

  listen(channel: string): Promise<void> {
    this.listenNow(channel);
    return DONE;
  }

  private listenNow(channel: string): void {
    this.record(channel).listened = true;
    this.unlistened.delete(channel);
  }

  async unlisten(channel: string): Promise<void> {
    const record = this.channels.get(channel);
    if (record) {
      record.listened = false;
      record.lastActivity = Date.now();
      this.unlistened.set(channel, record);
    }
  }

  /** Publications are handed to the listener inside publish(), so there is nothing to wait for. */
  sync(): Promise<void> {
    return DONE;
  }

  onPublication(listener: PublicationListener): void {
    this.listener = listener;
  }

  async ready(): Promise<boolean> {
    return true;
  }

  async close(): Promise<void> {
    clearInterval(this.sweepTimer);
  }

  /** Number of channels held, for tests and metrics. */
  get channelCount(): number {
    return this.channels.size;
  }

  /** What all histories together are counted at against historyMaxBytes, for tests and metrics. */
  get historyBytes(): number {
    return this.totalBytes;
  }

  /** Publications held in all histories, for tests and metrics. */
  get historyLength(): number {
    let length = 0;
    for (const record of this.published.values()) length += record.history!.length;
    return length;
  }

  /** Forget idle channels nobody listens to. */
  sweep(now: number): void {
    const cutoff = now - this.options.historyTtlS * 1000;
    for (const [channel, record] of this.unlistened) {
      if (record.lastActivity < cutoff && record.local === undefined) this.forget(channel, record);
    }
  }

  private record(channel: string): ChannelRecord {
    let record = this.channels.get(channel);
    if (!record) {
      record = { seq: 0, generation: ++this.generations, history: undefined, lastActivity: Date.now(), listened: false, local: undefined };
      this.channels.set(channel, record);
      this.unlistened.set(channel, record);
      if (this.channels.size > this.options.historyMaxChannels) this.forgetOldest(record);
    }
    return record;
  }

  // Forgetting a channel drops its epoch too, so a client resuming there is told `recovered: false`.
  private forgetOldest(keep: ChannelRecord): void {
    for (const [channel, record] of this.unlistened) {
      if (this.channels.size <= this.options.historyMaxChannels) return;
      if (record !== keep && record.local === undefined) this.forget(channel, record);
    }
  }

  private forget(channel: string, record: ChannelRecord): void {
    this.dropHistory(channel, record);
    this.channels.delete(channel);
    this.unlistened.delete(channel);
  }

  // Drop whole histories, least recently published first, until back under budget. Seq and epoch stay,
  // so a client asking for dropped publications is told `recovered: false` rather than given a gap.
  private trim(): void {
    for (const [channel, record] of this.published) {
      if (this.totalBytes <= this.options.historyMaxBytes) return;
      this.dropHistory(channel, record);
    }
  }

  // A channel without history costs only its record, which HISTORY_MAX_CHANNELS bounds.
  private dropHistory(channel: string, record: ChannelRecord): void {
    if (!record.history) return;
    this.totalBytes -= record.history.bytes + memoryChannelCost(channel);
    record.history = undefined;
    this.published.delete(channel);
  }
}
