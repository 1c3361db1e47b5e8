// The node's connection hub: sessions, local channel membership, recovery-safe subscribe and fan-out.

import type { ThreadOwnerLookup } from "../auth/principal.ts";
import type { TokenService } from "../auth/tokens.ts";
import type { Broker, Publication } from "../broker/broker.ts";
import type { Config } from "../config.ts";
import type { Logger } from "../observability/log.ts";
import type { GatewayMetrics } from "../observability/metrics.ts";
import {
  CloseCode,
  ErrorCode,
  ProtocolError,
  chatFrame,
  publicationFrame,
  shutdownFrame,
  subscribedFrame,
  type ChatAck,
  type ChatPayload,
} from "../protocol/index.ts";
import { callerOf, type Caller } from "./caller.ts";
import type { Session } from "./session.ts";
import { isRefilled, takeBytes, type ByteBucket, type BytePolicy, type RatePolicy } from "./rate-limiter.ts";
import type { Fanout } from "./transport.ts";

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
  threadOwner: ThreadOwnerLookup;
  fanout: Fanout;
  logger: Logger;
  metrics: GatewayMetrics;
  chat?: ChatHandler;
}

export interface SubscribeRequest {
  since?: number;
  epoch?: string;
  id?: string;
}

/** A subscription waiting for its ack; live publications are held here so none is lost or doubled. */
interface Pending {
  session: Session;
  buffer: Publication[] | undefined;
  bytes: number;
}

/**
 * What this node holds for one channel: its live local subscribers (one session stored bare, since
 * most channels have one and a Set costs ~300 bytes), the subscriptions waiting for their ack (one
 * bare too: they are short-lived and few), how many local subscriptions (pending included) keep the
 * broker listening, and that listen.
 */
interface ChannelEntry {
  live: Session | Set<Session> | undefined;
  pending: Pending | Pending[] | undefined;
  count: number;
  listening: Promise<void> | "listening" | undefined;
}

const NO_PUBLICATIONS: readonly Publication[] = [];

// Users with an HTTP publish bucket that is not full again. Buckets are dropped once refilled, so only
// users publishing right now count; past this many, the oldest is dropped to keep memory bounded.
const MAX_PUBLISH_BUCKETS = 10_000;

export class Gateway {
  readonly config: GatewayConfig;
  readonly ratePolicy: RatePolicy;
  readonly publishPolicy: BytePolicy;
  readonly tokens: TokenService;
  readonly threadOwner: ThreadOwnerLookup;
  readonly logger: Logger;
  readonly metrics: GatewayMetrics;
  readonly chat: ChatHandler | undefined;
  private readonly broker: Broker;
  private readonly fanout: Fanout;
  private readonly sessions = new Map<string, Session>();
  private readonly channels = new Map<string, ChannelEntry>();
  // Authenticated connections per user id: a bare number rather than an object per user, memory being
  // per connection; the entry goes with the user's last connection.
  private readonly userConnections = new Map<string, number>();
  // POST /publish bytes per user id (a socket's bucket is on its session).
  private readonly publishBuckets = new Map<string, ByteBucket>();
  private subscriptionCount = 0;
  private readonly tickTimer: Timer;
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
    this.tokens = deps.tokens;
    this.threadOwner = deps.threadOwner;
    this.fanout = deps.fanout;
    this.logger = deps.logger;
    this.metrics = deps.metrics;
    this.chat = deps.chat;
    this.broker.onPublication((publication) => this.deliver(publication));
    // At most a second apart: token expiry and the authentication deadline are checked here too.
    const shortest = Math.min(this.config.pingIntervalS, this.config.idleTimeoutS, this.config.authTimeoutS) * 1000;
    this.tickMs = Math.max(25, Math.min(1000, shortest / 4));
    this.tickTimer = setInterval(() => this.tick(Date.now()), this.tickMs);
    this.tickTimer.unref();
  }

  get connectionCount(): number {
    return this.sessions.size;
  }

  get totalSubscriptions(): number {
    return this.subscriptionCount;
  }

  /** Register a session whose socket just opened (called by Session.start). */
  register(session: Session): void {
    this.sessions.set(session.id, session);
    this.metrics.connections.set(this.sessions.size);
  }

  session(id: string): Session | undefined {
    return this.sessions.get(id);
  }

  /**
   * Count a registered session that just authenticated as `userId`; false when that puts the user over
   * MAX_CONNECTIONS_PER_USER on this node. It counts either way until released, which a refused session
   * is at once (it closes), so every registered session with a principal is counted exactly once.
   */
  admit(userId: string): boolean {
    const count = (this.userConnections.get(userId) ?? 0) + 1;
    this.userConnections.set(userId, count);
    return count <= this.config.maxConnectionsPerUser;
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

  publish(channel: string, payload: string, origin?: string): Promise<Publication> {
    this.metrics.publications.inc();
    return this.broker.publish(channel, payload, origin);
  }

  /**
   * Subscribe a session: ack with the channel state, replay what `since` asks for, then go live,
   * with publications that arrive meanwhile held back and delivered after the replay, none twice.
   */
  async subscribe(session: Session, channel: string, request: SubscribeRequest): Promise<void> {
    if (session.isSubscribed(channel)) {
      // A repeated subscribe starts over: leave the live topic until the new ack and replay are sent.
      session.transport.unsubscribe(channel);
      this.removeLive(channel, session);
    } else {
      session.addChannel(channel);
      this.subscriptionCount++;
      this.metrics.subscriptions.set(this.subscriptionCount);
      this.acquire(channel);
    }
    // The entry exists: acquired just now, or by the subscription being repeated.
    const entry = this.channels.get(channel)!;
    const pending: Pending = { session, buffer: undefined, bytes: 0 };
    if (!entry.pending) entry.pending = pending;
    else if (Array.isArray(entry.pending)) entry.pending.push(pending);
    else entry.pending = [entry.pending, pending];
    try {
      if (entry.listening !== "listening") await this.listen(channel, entry);
      const recovery = request.since === undefined ? undefined : await this.broker.recover(channel, request.since, request.epoch);
      const state = recovery?.state ?? (await this.broker.state(channel));
      // The read may count publications whose delivery to this node is still on its way (Redis: over
      // another connection); once they have landed in the buffer, the seq filter below drops them.
      await this.broker.sync();
      if (session.closed || !this.isPending(channel, pending)) return;
      this.removePending(channel, session);
      const recovered = recovery ? recovery.publications !== undefined : undefined;
      const replay = recovery?.publications ?? NO_PUBLICATIONS;
      session.send(
        subscribedFrame(channel, state, request.id, recovery ? { recovered: recovered!, replayed: replay.length } : undefined),
      );
      let last = state.seq;
      for (const publication of replay) session.send(publicationFrame(channel, publication.seq, publication.payload));
      for (const publication of pending.buffer ?? NO_PUBLICATIONS) {
        if (publication.seq <= last) continue;
        session.send(publicationFrame(channel, publication.seq, publication.payload));
        last = publication.seq;
      }
      session.transport.subscribe(channel);
      this.addLive(channel, session);
    } catch (error) {
      if (this.isPending(channel, pending)) this.unsubscribe(session, channel);
      throw error;
    }
  }

  unsubscribe(session: Session, channel: string): void {
    if (!session.removeChannel(channel)) return;
    this.removePending(channel, session);
    if (!session.closed) session.transport.unsubscribe(channel);
    this.removeLive(channel, session);
    this.subscriptionCount--;
    this.metrics.subscriptions.set(this.subscriptionCount);
    this.releaseInterest(channel);
  }

  /** Forget a closed session. */
  release(session: Session): void {
    if (!this.sessions.delete(session.id)) return;
    const userId = session.principal?.sub;
    if (userId !== undefined) {
      const count = this.userConnections.get(userId)! - 1;
      if (count > 0) this.userConnections.set(userId, count);
      else this.userConnections.delete(userId);
    }
    for (const channel of session.channels()) this.unsubscribe(session, channel);
    this.metrics.connections.set(this.sessions.size);
    this.logger.debug("connection closed", { connection_id: session.id, user_id: session.principal?.sub });
  }

  async handleChat(session: Session, payload: ChatPayload, id: string | undefined): Promise<void> {
    if (!this.chat) throw new ProtocolError(ErrorCode.unavailable, "the agent service is not enabled on this server");
    const ack = await this.chat.handle(callerOf(this, session), payload);
    session.send(chatFrame(ack, id));
  }

  checkSlowConsumer(session: Session): void {
    if (session.transport.getBufferedAmount() > this.config.maxQueuedBytes) session.close(CloseCode.tryAgainLater, "slow consumer");
  }

  /** Tell every client the server is going away and close with 1001. */
  shutdown(): void {
    const frame = shutdownFrame();
    for (const session of [...this.sessions.values()]) {
      session.send(frame);
      session.close(CloseCode.goingAway, "server shutting down");
    }
    clearInterval(this.tickTimer);
  }

  private deliver(publication: Publication): void {
    const { channel } = publication;
    const entry = this.channels.get(channel);
    if (!entry) return;
    if (entry.pending) {
      if (Array.isArray(entry.pending)) for (const pending of entry.pending) this.hold(pending, publication);
      else this.hold(entry.pending, publication);
    }
    const live = entry.live;
    if (!live) return;
    const frame = publicationFrame(channel, publication.seq, publication.payload);
    // Publishing through the origin's own socket leaves it out, as the protocol requires.
    const origin = publication.origin === undefined ? undefined : this.sessions.get(publication.origin);
    const status = origin && !origin.closed ? origin.transport.publishText(channel, frame) : this.fanout.publish(channel, frame);
    if (status !== -1) return;
    if (live instanceof Set) for (const session of live) this.checkSlowConsumer(session);
    else this.checkSlowConsumer(live);
  }

  /** Keep a publication for a subscription waiting for its ack. */
  private hold(pending: Pending, publication: Publication): void {
    if (pending.session.id === publication.origin) return;
    (pending.buffer ??= []).push(publication);
    pending.bytes += publication.payload.length;
    if (pending.bytes > this.config.maxQueuedBytes) pending.session.close(CloseCode.tryAgainLater, "slow consumer");
  }

  private addLive(channel: string, session: Session): void {
    const entry = this.channels.get(channel);
    if (!entry) return;
    if (!entry.live) entry.live = session;
    else if (entry.live instanceof Set) entry.live.add(session);
    else if (entry.live !== session) entry.live = new Set([entry.live, session]);
  }

  private removeLive(channel: string, session: Session): void {
    const entry = this.channels.get(channel);
    if (!entry?.live) return;
    if (entry.live === session) entry.live = undefined;
    else if (entry.live instanceof Set) {
      entry.live.delete(session);
      if (entry.live.size === 1) entry.live = entry.live.values().next().value;
    }
  }

  private acquire(channel: string): void {
    const entry = this.channels.get(channel);
    if (entry) entry.count++;
    else this.channels.set(channel, { live: undefined, pending: undefined, count: 1, listening: undefined });
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
    this.channels.delete(channel);
    if (entry.listening) {
      this.broker.unlisten(channel).catch((error) => this.logger.warn("unlisten failed", { channel, error }));
    }
  }

  private isPending(channel: string, pending: Pending): boolean {
    const waiting = this.channels.get(channel)?.pending;
    return waiting === pending || (Array.isArray(waiting) && waiting.includes(pending));
  }

  private removePending(channel: string, session: Session): void {
    const entry = this.channels.get(channel);
    const waiting = entry?.pending;
    if (!waiting) return;
    if (!Array.isArray(waiting)) {
      if (waiting.session === session) entry.pending = undefined;
      return;
    }
    const index = waiting.findIndex((pending) => pending.session === session);
    if (index < 0) return;
    waiting.splice(index, 1);
    if (waiting.length === 1) entry.pending = waiting[0];
  }

  /** A bucket that is full again holds nothing a fresh one would not: dropped. */
  private dropRefilledPublishBuckets(now: number): void {
    for (const [userId, bucket] of this.publishBuckets) {
      if (isRefilled(bucket, this.publishPolicy, now)) this.publishBuckets.delete(userId);
    }
  }

  /** Token expiry, server pings for quiet connections, idle closes and the slow-consumer sweep. */
  private tick(now: number): void {
    if (this.publishBuckets.size > 0) this.dropRefilledPublishBuckets(now);
    const pingMs = this.config.pingIntervalS * 1000;
    const idleMs = this.config.idleTimeoutS * 1000;
    for (const session of this.sessions.values()) {
      if (now >= session.expiresAt) {
        session.close(CloseCode.policyViolation, session.principal ? "token expired" : "authentication timeout");
        continue;
      }
      const quiet = now - session.lastFrameAt;
      if (quiet >= idleMs) {
        session.close(CloseCode.goingAway, "idle timeout");
        continue;
      }
      // Once per ping interval of quiet: the tick that crosses each multiple of the interval pings.
      // Derived from lastFrameAt rather than a last-ping field, one number less per connection.
      if (quiet >= pingMs && quiet % pingMs < this.tickMs) session.transport.ping();
      this.checkSlowConsumer(session);
    }
  }
}

/** A publish over its byte budget (docs/protocol.md, "Limits and closes"): refused, the connection kept. */
export function publishRateLimited(): ProtocolError {
  return new ProtocolError(ErrorCode.rateLimited, "publishing more bytes per second than allowed; slow down");
}
