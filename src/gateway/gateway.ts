// The node's connection hub: connections of every transport, local channel membership, recovery-safe
// subscribe and fan-out (docs/protocol.md sections 4 and 10); presence through its hub (section 14).

import { canSubscribe, type ThreadAccessLookup } from "../auth/principal.ts";
import type { TokenService } from "../auth/tokens.ts";
import type { Broker, ChannelLocals, ChannelState, Publication, Recovery } from "../broker/broker.ts";
import type { Config } from "../config.ts";
import type { Logger } from "../observability/log.ts";
import type { GatewayMetrics } from "../observability/metrics.ts";
import {
  CloseCode,
  ErrorCode,
  ProtocolError,
  chatFrame,
  type ChatAck,
  type ChatPayload,
} from "../protocol/index.ts";
import { callerOf, type Caller } from "./caller.ts";
import { compactAdd, compactDelete, compactFind, compactFirst, compactForEach, compactHas, type CompactSet } from "./compact-set.ts";
import type { Connection, KeepAlive } from "./connection.ts";
import type { Session } from "./session.ts";
import { isRefilled, takeBytes, type ByteBucket, type BytePolicy, type RatePolicy } from "./rate-limiter.ts";
import type { Fanout } from "./transport.ts";
import { PresenceHub } from "./presence-hub.ts";
import type { PresentMembers } from "./present-members.ts";
import type { Presence } from "../broker/presence.ts";
import { revokeThreadSubscriptions } from "./revoke.ts";
import { UserCounts } from "./user-counts.ts";

export type GatewayConfig = Pick<
  Config,
  | "rateLimitPerS"
  | "rateLimitBurst"
  | "rateLimitCloseAfterS"
  | "maxConnectionsPerUser"
  | "publishBytesPerS"
  | "publishBurstBytes"
  | "maxSubscriptions"
  | "maxQueuedBytes"
  | "pingIntervalS"
  | "idleTimeoutS"
  | "authTimeoutS"
>;

/** Handles `chat` frames; answers with the ack or throws a ProtocolError. The agent service is one. */
export interface ChatHandler {
  handle(caller: Caller, payload: ChatPayload): Promise<ChatAck>;
}

export interface GatewayDeps {
  config: GatewayConfig;
  broker: Broker;
  tokens: TokenService;
  threadAccess: ThreadAccessLookup;
  fanout: Fanout;
  /** Presence across nodes (docs/protocol.md section 14); every subscriber is present on its channel. */
  presence: Presence;
  logger: Logger;
  metrics: GatewayMetrics;
  chat?: ChatHandler;
  /** How long, and for how many channels at most, a listen outlives the channel's last subscriber. */
  linger?: { ms: number; max: number };
}

export interface SubscribeRequest {
  since?: number;
  epoch?: string;
  id?: string;
  /** `since` counts in the channel's current epoch, whatever it is: `since: 0` replays all history (SSE). */
  currentEpoch?: boolean;
  /** Also deliver the channel's presence changes. */
  presence?: boolean;
  /**
   * The gateway's revocation mark (`revocationMark()`) taken before the caller checked the thread
   * access that lets this subscribe in: when a revocation came while it was being checked, the access
   * is checked again once the subscription is registered, where no later revocation can miss it.
   */
  accessCheckedAt?: number;
}

/** A subscription waiting for its ack; live publications are held here so none is lost or doubled. */
interface Pending {
  connection: Connection;
  buffer: Publication[] | undefined;
  bytes: number;
}

/**
 * What this node holds for one channel: its live local subscribers reached through Bun's native topic
 * (WebSockets) and those the gateway writes to itself (SSE streams), the subscriptions waiting for
 * their ack, how many local subscriptions (pending included) keep the broker listening, and that
 * listen; and, with the memory presence engine, who of them is present since when. Compact sets: most
 * channels have one subscriber, and memory is per connection.
 */
interface ChannelEntry extends PresentMembers {
  live: CompactSet<Connection>;
  direct: CompactSet<Connection>;
  pending: CompactSet<Pending>;
  count: number;
  listening: Promise<void> | "listening" | undefined;
}

const NO_PUBLICATIONS: readonly Publication[] = [];

// Users with an HTTP publish bucket that is not full again. Buckets are dropped once refilled, so only
// users publishing right now count; past this many, the oldest is dropped to keep memory bounded.
const MAX_PUBLISH_BUCKETS = 10_000;

// A channel whose last local subscriber left keeps its broker listen this long. Clients that drop
// together (a network blip, a restart behind a load balancer) come back within seconds, and on Redis
// an UNSUBSCRIBE and a SUBSCRIBE per channel for thousands of channels at once is what made such a
// reconnect storm time out. Past `max` lingering channels, the one idle longest goes at once.
const LINGER = { ms: 30_000, max: 10_000 };

// Connections opened in a burst (a restart, a network blip) after which the gateway asks for a garbage
// collection once `quietMs` pass with none opened: see Gateway.watchBurst.
const BURST = { connections: 1_000, quietMs: 200 };

export class Gateway {
  readonly config: GatewayConfig;
  readonly ratePolicy: RatePolicy;
  readonly publishPolicy: BytePolicy;
  readonly tokens: TokenService;
  readonly threadAccess: ThreadAccessLookup;
  readonly presence: PresenceHub;
  readonly logger: Logger;
  readonly metrics: GatewayMetrics;
  readonly chat: ChatHandler | undefined;
  private readonly broker: Broker;
  private readonly fanout: Fanout;
  // Registered connections in no order, each holding its index (`slot`): an array costs a connection 8
  // bytes where a map by id cost about 130 (memory is per connection).
  private readonly connections: Connection[] = [];
  // Connections that published, by id, while they are open: fan-out finds a publication's origin here
  // to leave it out. Only publishers pay for an entry.
  private readonly publishers = new Map<string, Connection>();
  // On the memory engine's own channel records where it has them: one map entry per channel less.
  private readonly channels: ChannelLocals<ChannelEntry>;
  // Authenticated connections per user id, chained by slot: no entry per user (memory is per connection).
  private readonly userCounts = new UserCounts((slot) => this.connections[slot]!.principal!.sub);
  // POST /publish bytes per user id (a socket's bucket is on its session).
  private readonly publishBuckets = new Map<string, ByteBucket>();
  private subscriptionCount = 0;
  // Bumped by every revocation of a user's thread access on this node (revokeThread).
  private revocations = 0;
  // Channels with no local subscriber whose listen is kept for a while, and since when (oldest first).
  private readonly lingering = new Map<string, number>();
  private readonly linger: { ms: number; max: number };
  private readonly tickTimer: Timer;
  // Connections registered so far and at the last collection asked for, and the timer watching a burst.
  private registered = 0;
  private registeredAtCollection = 0;
  private burstTimer: Timer | undefined;
  private readonly tickMs: number;

  constructor(deps: GatewayDeps) {
    this.config = deps.config;
    this.ratePolicy = {
      perSecond: deps.config.rateLimitPerS,
      burst: deps.config.rateLimitBurst,
      closeAfterMs: deps.config.rateLimitCloseAfterS * 1000,
    };
    this.publishPolicy = { perSecond: deps.config.publishBytesPerS, burst: deps.config.publishBurstBytes };
    this.broker = deps.broker;
    this.channels = (deps.broker.immediate?.locals as ChannelLocals<ChannelEntry> | undefined) ?? new Map<string, ChannelEntry>();
    this.tokens = deps.tokens;
    this.threadAccess = deps.threadAccess;
    this.presence = new PresenceHub(deps.presence, deps.threadAccess, deps.logger, (channel) => this.channels.get(channel));
    this.fanout = deps.fanout;
    this.logger = deps.logger;
    this.metrics = deps.metrics;
    this.chat = deps.chat;
    this.linger = deps.linger ?? LINGER;
    this.broker.onPublication((publication) => this.deliver(publication));
    // At most a second apart: token expiry and the authentication deadline are checked here too.
    const shortest = Math.min(this.config.pingIntervalS, this.config.idleTimeoutS, this.config.authTimeoutS) * 1000;
    this.tickMs = Math.max(25, Math.min(1000, shortest / 4));
    this.tickTimer = setInterval(() => this.tick(Date.now()), this.tickMs);
    this.tickTimer.unref();
  }

  get connectionCount(): number {
    return this.connections.length;
  }

  get totalSubscriptions(): number {
    return this.subscriptionCount;
  }

  /** Register a connection that just opened (a socket, a stream); the tick looks after it from now on. */
  register(connection: Connection): void {
    connection.slot = this.connections.push(connection) - 1;
    this.registered++;
    if (this.burstTimer === undefined && this.registered - this.registeredAtCollection >= BURST.connections) this.watchBurst();
    this.metrics.connections.set(this.connections.length);
  }

  /** The open connection with this id, found by a walk of them all: for tests and tools, not a hot path. */
  connection(id: string): Connection | undefined {
    return this.connections.find((connection) => connection.id === id);
  }

  /**
   * Count a registered connection that just authenticated (its principal set); false when that puts its
   * user over MAX_CONNECTIONS_PER_USER on this node. It counts either way until released, which a refused
   * one is at once (it closes), so every registered connection with a principal is counted exactly once.
   */
  admit(connection: Connection): boolean {
    return this.userCounts.add(connection.slot, connection.principal!.sub, this.config.maxConnectionsPerUser);
  }

  /**
   * Charge `bytes` of a POST /publish to the user's bucket; throws `rate_limited` when they go over
   * PUBLISH_BYTES_PER_S. Per user rather than per request, since HTTP has no connection to hold a bucket.
   */
  takePublishBytes(userId: string, bytes: number, now = Date.now()): void {
    let bucket = this.publishBuckets.get(userId);
    if (!bucket) {
      if (this.publishBuckets.size >= MAX_PUBLISH_BUCKETS) this.dropRefilledPublishBuckets(now);
      // Still full: the oldest goes. That user gets a fresh burst, a smaller harm than unbounded memory.
      if (this.publishBuckets.size >= MAX_PUBLISH_BUCKETS) this.publishBuckets.delete(this.publishBuckets.keys().next().value!);
      bucket = { publishBytes: this.publishPolicy.burst, publishRefilledAt: now };
      this.publishBuckets.set(userId, bucket);
    }
    if (!takeBytes(bucket, this.publishPolicy, bytes, now)) throw publishRateLimited();
  }

  /** Publishes on the broker; an `origin` connection is left out of the fan-out (docs/protocol.md section 5). */
  publish(channel: string, payload: string, origin?: Connection): Promise<Publication> {
    this.metrics.publications.inc();
    if (origin === undefined) return this.broker.publish(channel, payload);
    if (!origin.closed && origin.slot >= 0) this.publishers.set(origin.id, origin);
    return this.broker.publish(channel, payload, origin.id);
  }

  /**
   * Subscribe a connection: ack with the channel state, replay what `since` asks for, then go live,
   * with publications that arrive meanwhile held back and delivered after the replay, none twice.
   * With an engine that answers at once, all of it happens now and nothing is returned.
   */
  subscribe(connection: Connection, channel: string, request: SubscribeRequest): Promise<void> | void {
    if (connection.isSubscribed(channel)) {
      // A repeated subscribe starts over: leave the live topic until the new ack and replay are sent.
      connection.topics?.unsubscribe(channel);
      this.removeLive(channel, connection);
    } else {
      connection.addChannel(channel);
      this.subscriptionCount++;
      this.metrics.subscriptions.set(this.subscriptionCount);
      this.acquire(channel);
    }
    // The entry exists: acquired just now, or by the subscription being repeated.
    const entry = this.channels.get(channel)!;
    const immediate = this.broker.immediate;
    const recheck = request.accessCheckedAt !== undefined && request.accessCheckedAt !== this.revocations;
    // Watching presence waits for the engine to deliver the channel's changes, and access checked again
    // waits for storage: the asynchronous path.
    if (!immediate || request.presence || recheck) return this.subscribeAsync(connection, channel, entry, request, recheck);
    // Nothing can be published between these reads and going live: no publication to hold back.
    let recovery: Recovery | undefined;
    let state: ChannelState;
    try {
      if (entry.listening !== "listening") {
        immediate.listen(channel);
        entry.listening = "listening";
      }
      const epoch = request.currentEpoch ? immediate.state(channel).epoch : request.epoch;
      recovery = request.since === undefined ? undefined : immediate.recover(channel, request.since, epoch);
      state = recovery?.state ?? immediate.state(channel);
    } catch (error) {
      this.unsubscribe(connection, channel);
      throw error;
    }
    this.start(connection, channel, request, state, recovery, NO_PUBLICATIONS);
  }

  private async subscribeAsync(connection: Connection, channel: string, entry: ChannelEntry, request: SubscribeRequest, recheck = false): Promise<void> {
    const pending: Pending = { connection, buffer: undefined, bytes: 0 };
    entry.pending = compactAdd(entry.pending, pending);
    try {
      // Registered as pending: a revocation from here on finds the subscription and ends it.
      if (recheck && !(connection.principal && (await canSubscribe(connection.principal, channel, this.threadAccess)))) {
        throw new ProtocolError(ErrorCode.forbidden, `no subscribe permission on channel ${channel}`);
      }
      if (connection.closed || !this.isPending(channel, pending)) return;
      if (entry.listening !== "listening") await this.listen(channel, entry);
      if (request.presence) await this.presence.prepare(channel);
      const epoch = request.currentEpoch ? (await this.broker.state(channel)).epoch : request.epoch;
      const recovery = request.since === undefined ? undefined : await this.broker.recover(channel, request.since, epoch);
      const state = recovery?.state ?? (await this.broker.state(channel));
      // The read may count publications whose delivery to this node is still on its way (Redis: over
      // another connection); once they have landed in the buffer, the seq filter in start() drops them.
      await this.broker.sync();
      if (connection.closed || !this.isPending(channel, pending)) return;
      this.removePending(channel, connection);
      this.start(connection, channel, request, state, recovery, pending.buffer ?? NO_PUBLICATIONS);
    } catch (error) {
      if (this.isPending(channel, pending)) this.unsubscribe(connection, channel);
      throw error;
    }
  }

  /** The ack, the replay, what was held back meanwhile (none twice), then live. */
  private start(connection: Connection, channel: string, request: SubscribeRequest, state: ChannelState, recovery: Recovery | undefined, held: readonly Publication[]): void {
    const replay = recovery?.publications ?? NO_PUBLICATIONS;
    const outcome = recovery ? { recovered: recovery.publications !== undefined, replayed: replay.length } : undefined;
    const { wire } = connection;
    const ack = wire.subscribed(channel, state, request.id, outcome);
    if (ack !== undefined) connection.send(ack);
    let last = state.seq;
    for (const publication of replay) sendPublication(connection, publication, wire.publication(publication));
    for (const publication of held) {
      if (publication.seq <= last) continue;
      sendPublication(connection, publication, wire.publication(publication));
      last = publication.seq;
    }
    // The replay may have ended the connection (a slow consumer, an SSE stream that stops at a run's
    // final event): it was released then, and must not be made live after.
    if (connection.closed) return;
    this.addLive(channel, connection);
    this.presence.enter(connection, channel, request.presence);
  }

  unsubscribe(connection: Connection, channel: string): void {
    if (!connection.removeChannel(channel)) return;
    this.removePending(channel, connection);
    if (!connection.closed) connection.topics?.unsubscribe(channel);
    this.removeLive(channel, connection);
    this.presence.exit(connection, channel);
    this.subscriptionCount--;
    this.metrics.subscriptions.set(this.subscriptionCount);
    this.releaseInterest(channel);
  }

  /** Taken before a thread access check that a subscribe then relies on (SubscribeRequest.accessCheckedAt). */
  revocationMark(): number {
    return this.revocations;
  }

  /**
   * Ends `userId`'s subscriptions to the thread on this node (its access was removed or lowered), and
   * marks the revocation, so a subscribe whose access was checked meanwhile is checked again.
   */
  revokeThread(threadId: string, userId: string): void {
    this.revocations++;
    revokeThreadSubscriptions(this, threadId, userId);
  }

  /** This node's connections holding `channel`, those waiting for their ack included. */
  subscribers(channel: string): Connection[] {
    const entry = this.channels.get(channel);
    if (!entry) return [];
    const connections = new Set<Connection>();
    compactForEach(entry.live, (connection) => connections.add(connection));
    compactForEach(entry.direct, (connection) => connections.add(connection));
    compactForEach(entry.pending, (pending) => connections.add(pending.connection));
    return [...connections];
  }

  /** Forget a closed connection. */
  release(connection: Connection): void {
    const { slot } = connection;
    if (slot < 0) return;
    this.userCounts.remove(slot);
    // The last connection takes the freed index.
    const lastSlot = this.connections.length - 1;
    if (slot !== lastSlot) {
      const last = this.connections[lastSlot]!;
      this.userCounts.move(lastSlot, slot);
      this.connections[slot] = last;
      last.slot = slot;
    }
    this.connections.pop();
    connection.slot = -1;
    if (this.publishers.size !== 0) this.publishers.delete(connection.id);
    const userId = connection.principal?.sub;
    for (const channel of connection.channels()) this.unsubscribe(connection, channel);
    this.metrics.connections.set(this.connections.length);
    // Writing the line (and a session's id) only when it is logged: this runs for every connection.
    if (this.logger.debugEnabled) this.logger.debug("connection closed", { connection_id: connection.id, user_id: userId });
  }

  async handleChat(session: Session, payload: ChatPayload, id: string | undefined): Promise<void> {
    if (!this.chat) throw new ProtocolError(ErrorCode.unavailable, "the agent service is not enabled on this server");
    const ack = await this.chat.handle(callerOf(this, session), payload);
    session.send(chatFrame(ack, id));
  }

  checkSlowConsumer(connection: Connection): void {
    if (connection.bufferedAmount() > this.config.maxQueuedBytes) connection.close(CloseCode.tryAgainLater, "slow consumer");
  }

  /** Tell every client the server is going away and close with 1001; streams end cleanly. */
  shutdown(): void {
    for (const connection of [...this.connections]) {
      const notice = connection.wire.shutdown();
      if (notice !== undefined) connection.send(notice);
      connection.close(CloseCode.goingAway, "server shutting down");
    }
    clearInterval(this.tickTimer);
    clearInterval(this.burstTimer);
  }

  private deliver(publication: Publication): void {
    const { channel } = publication;
    const entry = this.channels.get(channel);
    if (!entry) return;
    if (entry.pending !== undefined) compactForEach(entry.pending, (pending) => this.hold(pending, publication));
    const live = entry.live;
    if (live !== undefined) {
      // Every native member shares one wire and one frame: the server's topic publish sends it to all.
      const frame = compactFirst(live)!.wire.publication(publication);
      // Publishing through the origin's own socket leaves it out, as the protocol requires.
      const origin = publication.origin === undefined ? undefined : this.publishers.get(publication.origin);
      const status = origin?.topics && !origin.closed ? origin.topics.publishText(channel, frame) : this.fanout.publish(channel, frame);
      if (status === -1) compactForEach(live, (connection) => this.checkSlowConsumer(connection));
    }
    if (entry.direct !== undefined) this.deliverDirect(entry.direct, publication);
  }

  /** Writes a publication to each member without a native topic, formatted once per wire. */
  private deliverDirect(members: CompactSet<Connection>, publication: Publication): void {
    let wire: Connection["wire"] | undefined;
    let text = "";
    // A member may close while it is written to (an SSE stream ending at a run's final event), which
    // removes it from `members`: compactForEach still visits every other member once.
    compactForEach(members, (connection) => {
      if (connection.wire !== wire) {
        wire = connection.wire;
        text = wire.publication(publication);
      }
      this.deliverTo(connection, publication, text);
    });
  }

  private deliverTo(connection: Connection, publication: Publication, text: string): void {
    // A session writes its id out when asked (src/gateway/connection-id.ts): compared only when there is an origin.
    if (publication.origin !== undefined && connection.id === publication.origin) return;
    sendPublication(connection, publication, text);
    if (connection.bufferedAmount() > this.config.maxQueuedBytes) connection.close(CloseCode.tryAgainLater, "slow consumer");
  }

  /** Keep a publication for a subscription waiting for its ack. */
  private hold(pending: Pending, publication: Publication): void {
    if (publication.origin !== undefined && pending.connection.id === publication.origin) return;
    (pending.buffer ??= []).push(publication);
    pending.bytes += publication.payload.length;
    if (pending.bytes > this.config.maxQueuedBytes) pending.connection.close(CloseCode.tryAgainLater, "slow consumer");
  }

  private addLive(channel: string, connection: Connection): void {
    const entry = this.channels.get(channel);
    if (!entry) return;
    if (connection.topics) {
      connection.topics.subscribe(channel);
      entry.live = compactAdd(entry.live, connection);
    } else {
      entry.direct = compactAdd(entry.direct, connection);
    }
  }

  private removeLive(channel: string, connection: Connection): void {
    const entry = this.channels.get(channel);
    if (!entry) return;
    if (connection.topics) entry.live = compactDelete(entry.live, connection);
    else entry.direct = compactDelete(entry.direct, connection);
  }

  private acquire(channel: string): void {
    const entry = this.channels.get(channel);
    if (entry) {
      if (entry.count++ === 0) this.lingering.delete(channel);
    } else this.channels.set(channel, { live: undefined, direct: undefined, pending: undefined, count: 1, listening: undefined, present: undefined, presentSince: 0 });
  }

  /** Starts the broker listening to the channel unless a subscriber did already, and waits until it listens. */
  private async listen(channel: string, entry: ChannelEntry): Promise<void> {
    let listening = entry.listening;
    if (listening === "listening") return;
    if (listening === undefined) listening = entry.listening = this.broker.listen(channel);
    try {
      await listening;
    } catch (error) {
      // A failed listen is retried by the next subscriber.
      if (entry.listening === listening) entry.listening = undefined;
      throw error;
    }
    // Once confirmed, drop the promise (memory per channel).
    if (entry.listening === listening) entry.listening = "listening";
  }

  private releaseInterest(channel: string): void {
    const entry = this.channels.get(channel);
    if (!entry || --entry.count > 0) return;
    // A listen not confirmed (failed, or still on its way) has nothing worth keeping.
    if (entry.listening !== "listening") return this.forget(channel, entry);
    this.lingering.set(channel, Date.now());
    if (this.lingering.size > this.linger.max) this.endLingering(this.lingering.keys().next().value!);
  }

  /** Stops listening to a channel that lingered with no local subscriber. */
  private endLingering(channel: string): void {
    this.lingering.delete(channel);
    const entry = this.channels.get(channel);
    if (entry && entry.count === 0) this.forget(channel, entry);
  }

  private forget(channel: string, entry: ChannelEntry): void {
    this.channels.delete(channel);
    if (entry.listening) {
      this.broker.unlisten(channel).catch((error) => this.logger.warn("unlisten failed", { channel, error }));
    }
  }

  private isPending(channel: string, pending: Pending): boolean {
    return compactHas(this.channels.get(channel)?.pending, pending);
  }

  private removePending(channel: string, connection: Connection): void {
    const entry = this.channels.get(channel);
    const pending = compactFind(entry?.pending, (candidate) => candidate.connection === connection);
    if (pending) entry!.pending = compactDelete(entry!.pending, pending);
  }

  /** A bucket that is full again holds nothing a fresh one would not: dropped. */
  private dropRefilledPublishBuckets(now: number): void {
    for (const [userId, bucket] of this.publishBuckets) {
      if (isRefilled(bucket, this.publishPolicy, now)) this.publishBuckets.delete(userId);
    }
  }

  /**
   * Setting up a connection leaves about 3 KB of garbage (the upgrade, the token, the frames), and JSC
   * collects when allocation asks it to: after a burst of connections an idle node would keep that
   * garbage, and the blocks it pins, for as long as it stays idle. So once a burst has gone quiet (no
   * connection opened for `quietMs`), one full collection, synchronous (an asynchronous one was not run
   * in time to matter): about 15 ms at 19,000 connections, at most once per 1,000 connections opened.
   */
  private watchBurst(): void {
    let seen = this.registered;
    this.burstTimer = setInterval(() => {
      if (this.registered !== seen) {
        seen = this.registered;
        return;
      }
      clearInterval(this.burstTimer);
      this.burstTimer = undefined;
      this.registeredAtCollection = this.registered;
      Bun.gc(true);
    }, BURST.quietMs);
    this.burstTimer.unref();
  }

  /** Token expiry, the transports' upkeep (pings, idle closes) and the slow-consumer sweep. */
  private tick(now: number): void {
    if (this.publishBuckets.size > 0) this.dropRefilledPublishBuckets(now);
    for (const [channel, since] of this.lingering) {
      if (now - since < this.linger.ms) break;
      this.endLingering(channel);
    }
    const intervals: KeepAlive = { pingMs: this.config.pingIntervalS * 1000, idleMs: this.config.idleTimeoutS * 1000, tickMs: this.tickMs };
    // Backwards: a connection closed here is replaced at its index by the last one, visited already.
    const { connections } = this;
    for (let index = connections.length - 1; index >= 0; index--) {
      if (index >= connections.length) continue;
      const connection = connections[index]!;
      if (now >= connection.expiresAt) {
        connection.close(CloseCode.policyViolation, connection.principal ? "token expired" : "authentication timeout");
        continue;
      }
      connection.keepAlive(now, intervals);
      if (!connection.closed) this.checkSlowConsumer(connection);
    }
  }
}

function sendPublication(connection: Connection, publication: Publication, text: string): void {
  if (connection.deliver) connection.deliver(publication, text);
  else connection.send(text);
}

/** A publish over its byte budget (docs/protocol.md section 8.3): refused, the connection kept. */
export function publishRateLimited(): ProtocolError {
  return new ProtocolError(ErrorCode.rateLimited, "publishing more bytes per second than allowed; slow down");
}
