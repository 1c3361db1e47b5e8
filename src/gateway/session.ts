// One client connection: authentication, frame ordering, rate limiting and the commands of docs/protocol.md sections 3-5.

import { canPublish, canSubscribe, canSubscribeByClaims, type Principal } from "../auth/principal.ts";
import {
  CloseCode,
  CloseReason,
  ErrorCode,
  ProtocolError,
  connectedFrame,
  decode,
  errorFrame,
  isReservedChannel,
  pongFrame,
  publicationFrame,
  publishedFrame,
  shutdownFrame,
  subscribedFrame,
  toProtocolError,
  unsubscribedFrame,
  type ClientCommand,
} from "../protocol/index.ts";
import type { Publication } from "../broker/broker.ts";
import { publishRateLimited, type Gateway } from "./gateway.ts";
import { takeBytes, takeToken, type ByteBucket, type DropRecord, type RateState } from "./rate-limiter.ts";
import { compactAdd, compactDelete, compactHas, compactSize, compactValues, type CompactSet } from "./compact-set.ts";
import type { Connection, KeepAlive, Wire } from "./connection.ts";
import type { Transport } from "./transport.ts";
import { connectionId, nextConnectionSerial } from "./connection-id.ts";

/** The WebSocket protocol's frames for what the gateway sends (docs/protocol.md sections 4, 5 and 8). */
export const webSocketWire: Wire = {
  publication: (publication) => publicationFrame(publication.channel, publication.seq, publication.payload),
  subscribed: (channel, state, id, outcome) => subscribedFrame(channel, state, id, outcome),
  shutdown: () => shutdownFrame(),
};

type SubscribeCommand = Extract<ClientCommand, { kind: "subscribe" }>;

// Frames that wait while an earlier frame of the same connection is still being handled.
const MAX_BACKLOG = 1024;
// Publishes of one connection sent to the broker without waiting for the previous one's answer. The
// broker keeps their order (one Redis connection answers in order), and a publisher is not held to
// one publication per Redis round trip; past this many in flight, frames wait their turn.
const MAX_PIPELINED_PUBLISHES = 64;

/**
 * What only some connections need, made on first use: the authentication deadline of one that sends
 * its token in a frame, the drops of the frame limiter, the publish byte bucket, the publishes in
 * flight and the frames waiting their turn. Kept apart, a Session fits JSC's 112-byte size class
 * rather than the 160- or 224-byte one (memory is per connection).
 */
class Seldom implements DropRecord, ByteBucket {
  authDeadline = Number.POSITIVE_INFINITY;
  abuseSince = 0;
  lastDropAt = Number.NEGATIVE_INFINITY;
  lastWarnAt = Number.NEGATIVE_INFINITY;
  publishing = 0;
  // The connection id once written out for a connection that has this object (see Session.id).
  id: string | undefined = undefined;
  backlog: (string | Uint8Array)[] | undefined = undefined;
  // A full bucket, as of now: it refills to no more than its burst anyway.
  publishRefilledAt = Date.now();

  constructor(public publishBytes: number) {}
}

export class Session implements Connection, RateState {
  principal: Principal | undefined;
  closed = false;
  slot = -1;
  lastFrameAt = 0;
  // One channel bare, several in an array (a Set past a few): most connections hold one channel, and an
  // array would cost ~60 bytes more each, a Set ~300; memory is per connection.
  private subscribed: CompactSet<string> = undefined;
  // The frame limiter's bucket, kept on the session itself.
  tokens: number;
  refilledAt = 0;
  private busy = false;
  private seldom: Seldom | undefined = undefined;
  /** The socket, set by start(): a session may be made before its socket opens. */
  transport!: Transport;

  // The connection id as a number (src/gateway/connection-id.ts): a UUID string would cost ~80 bytes.
  private readonly serial = nextConnectionSerial();

  /** `principal` comes from the upgrade request; without one the connection must send an `auth` frame. */
  constructor(
    private readonly gateway: Gateway,
    principal: Principal | undefined,
  ) {
    this.principal = principal;
    this.tokens = gateway.ratePolicy.burst;
  }

  /** Written out when asked for, and kept once the connection has its seldom-used state (a publisher's, say). */
  get id(): string {
    const seldom = this.seldom;
    if (seldom === undefined) return connectionId(this.serial);
    return (seldom.id ??= connectionId(this.serial));
  }

  /**
   * When the gateway's tick closes the connection (ms since epoch): the authentication deadline until
   * a token arrives, then the token's expiry. A deadline checked by the tick costs no timer per
   * connection, and read from the principal, no field.
   */
  get expiresAt(): number {
    const principal = this.principal;
    if (principal) return principal.exp === undefined ? Number.POSITIVE_INFINITY : principal.exp * 1000;
    return this.seldom?.authDeadline ?? Number.POSITIVE_INFINITY;
  }

  private get rare(): Seldom {
    return (this.seldom ??= new Seldom(this.gateway.publishPolicy.burst));
  }

  get drops(): DropRecord {
    return this.rare;
  }

  /** Called once the socket is open: registers the session, then authenticates it or waits for an `auth` frame. */
  start(transport: Transport): void {
    const now = Date.now();
    this.transport = transport;
    this.refilledAt = now;
    this.lastFrameAt = now;
    this.gateway.register(this);
    if (this.principal) {
      this.authenticate(this.principal, undefined);
      return;
    }
    this.rare.authDeadline = now + this.gateway.config.authTimeoutS * 1000;
  }

  get wire(): Wire {
    return webSocketWire;
  }

  /** The socket itself: the server's native topic publish reaches it. */
  get topics(): Transport {
    return this.transport;
  }

  bufferedAmount(): number {
    return this.transport.getBufferedAmount();
  }

  /** Idle closes, and a ping once per ping interval of quiet. */
  keepAlive(now: number, { pingMs, idleMs, tickMs }: KeepAlive): void {
    const quiet = now - this.lastFrameAt;
    if (quiet >= idleMs) return this.close(CloseCode.goingAway, "idle timeout");
    // The tick that crosses each multiple of the interval pings. Derived from lastFrameAt rather than a
    // last-ping field, one number less per connection.
    if (quiet >= pingMs && quiet % pingMs < tickMs) this.transport.ping();
  }

  /** Whether the connection holds `channel`, pending subscriptions included. */
  isSubscribed(channel: string): boolean {
    return compactHas(this.subscribed, channel);
  }

  get subscriptionCount(): number {
    return compactSize(this.subscribed);
  }

  /** A copy of the channels held, safe to iterate while unsubscribing. */
  channels(): string[] {
    return compactValues(this.subscribed);
  }

  addChannel(channel: string): void {
    this.subscribed = compactAdd(this.subscribed, channel);
  }

  /** Removes `channel`; false when it was not held. */
  removeChannel(channel: string): boolean {
    if (!compactHas(this.subscribed, channel)) return false;
    this.subscribed = compactDelete(this.subscribed, channel);
    return true;
  }

  send(text: string): void {
    if (this.closed) return;
    const status = this.transport.sendText(text);
    this.gateway.metrics.framesOut.inc();
    if (status === -1) this.gateway.checkSlowConsumer(this);
  }

  sendError(error: ProtocolError, id?: string): void {
    this.gateway.metrics.errors.inc({ code: error.code });
    this.send(errorFrame(error.code, error.message, id, error.details));
  }

  close(code: number, reason: string): void {
    if (this.closed) return;
    this.gateway.metrics.closes.inc({ reason });
    this.transport.close(code, reason);
    this.dispose();
  }

  /** Release everything the connection holds; safe to call twice. */
  dispose(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.seldom) this.seldom.backlog = undefined;
    this.gateway.release(this);
  }

  /** Entry point for every frame the socket receives. */
  receive(raw: string | Uint8Array): void {
    if (this.closed) return;
    const now = Date.now();
    this.lastFrameAt = now;
    this.gateway.metrics.framesIn.inc();
    const decision = takeToken(this, this.gateway.ratePolicy, now);
    if (decision !== "accept") {
      if (decision === "close") {
        this.close(CloseCode.policyViolation, "rate limit exceeded");
      } else if (decision === "drop-and-warn") {
        this.sendError(new ProtocolError(ErrorCode.rateLimited, "too many frames; slow down"));
      }
      return;
    }
    if (this.busy) {
      const backlog = (this.rare.backlog ??= []);
      if (backlog.length >= MAX_BACKLOG) {
        this.sendError(new ProtocolError(ErrorCode.rateLimited, "too many frames waiting to be handled"));
        return;
      }
      backlog.push(raw);
      return;
    }
    this.run(raw);
  }

  private run(raw: string | Uint8Array): void {
    const decoded = decode(raw);
    if (decoded.kind === "error") {
      if (!this.principal) return this.close(CloseCode.policyViolation, "authentication required");
      return this.sendError(new ProtocolError(decoded.code, decoded.message, decoded.details), decoded.id);
    }
    if (!this.principal && decoded.kind !== "auth") return this.close(CloseCode.policyViolation, "authentication required");
    let pending: Promise<void> | void;
    try {
      pending = this.dispatch(decoded);
    } catch (error) {
      return this.fail(error, decoded.id);
    }
    if (!pending) return;
    this.busy = true;
    void this.settle(pending, decoded.id);
  }

  // One async step rather than a catch/finally chain with its closures: garbage per frame shows in memory.
  private async settle(pending: Promise<void>, id: string | undefined): Promise<void> {
    try {
      await pending;
    } catch (error) {
      this.fail(error, id);
    } finally {
      this.busy = false;
      const backlog = this.seldom?.backlog;
      while (!this.busy && !this.closed && backlog && backlog.length > 0) this.run(backlog.shift()!);
    }
  }

  private fail(error: unknown, id: string | undefined): void {
    const protocolError = toProtocolError(error);
    if (protocolError.code === ErrorCode.internal) {
      this.gateway.logger.error("frame handling failed", { connection_id: this.id, error });
    }
    this.sendError(protocolError, id);
  }

  private dispatch(command: ClientCommand): Promise<void> | void {
    switch (command.kind) {
      case "auth":
        return this.onAuth(command.token, command.id);
      case "subscribe":
        return this.onSubscribe(command);
      case "presence":
        return this.gateway.presence.answer(this, command);
      case "unsubscribe":
        this.gateway.unsubscribe(this, command.channel);
        return this.send(unsubscribedFrame(command.channel, command.id));
      case "ping":
        return this.send(pongFrame(command.id));
      case "publish":
        return this.onPublish(command.channel, command.payload, command.id);
      case "chat":
        return this.gateway.handleChat(this, command.payload, command.id);
    }
  }

  private async onAuth(token: string, id: string | undefined): Promise<void> {
    const principal = await this.gateway.tokens.verify(token);
    if (this.closed) return;
    if (!principal) return this.close(CloseCode.policyViolation, "invalid token");
    if (this.principal && principal.sub !== this.principal.sub) return this.close(CloseCode.policyViolation, "token names another user");
    const refreshing = this.principal !== undefined;
    this.authenticate(principal, id, refreshing);
    if (refreshing) await this.revokeForbiddenSubscriptions(principal);
  }

  /** `refreshing`: a new token for the same user, which takes no second connection slot. */
  private authenticate(principal: Principal, id: string | undefined, refreshing = false): void {
    this.principal = principal;
    // Set before admit: the gateway releases a slot for every registered session with a principal.
    if (!refreshing && !this.gateway.admit(this)) return this.close(CloseCode.policyViolation, CloseReason.tooManyConnections);
    const connectionId = this.id;
    const { logger } = this.gateway;
    if (logger.debugEnabled) logger.debug("connection authenticated", { connection_id: connectionId, user_id: principal.sub });
    this.send(connectedFrame(connectionId, principal.sub, id));
  }

  private async revokeForbiddenSubscriptions(principal: Principal): Promise<void> {
    for (const channel of this.channels()) {
      if (await canSubscribe(principal, channel, this.gateway.threadAccess)) continue;
      if (this.closed || !this.isSubscribed(channel)) continue;
      this.gateway.unsubscribe(this, channel);
      this.send(unsubscribedFrame(channel, undefined, "forbidden"));
    }
  }

  private onSubscribe(command: SubscribeCommand): Promise<void> | void {
    const { channel } = command;
    if (isReservedChannel(channel)) throw new ProtocolError(ErrorCode.forbidden, `channel ${channel} is reserved`);
    // Most subscriptions are decided by the token alone, without an async step (garbage per subscribe).
    if (canSubscribeByClaims(this.principal!, channel)) return this.subscribeAllowed(command);
    return this.subscribeByOwnership(command);
  }

  private async subscribeByOwnership(command: SubscribeCommand): Promise<void> {
    const { channel } = command;
    const accessCheckedAt = this.gateway.revocationMark();
    if (!(await canSubscribe(this.principal!, channel, this.gateway.threadAccess))) {
      throw new ProtocolError(ErrorCode.forbidden, `no subscribe permission on channel ${channel}`);
    }
    return this.subscribeAllowed({ ...command, accessCheckedAt });
  }

  private subscribeAllowed(command: SubscribeCommand & { accessCheckedAt?: number }): Promise<void> | void {
    const { channel } = command;
    if (!this.isSubscribed(channel) && this.subscriptionCount >= this.gateway.config.maxSubscriptions) {
      throw new ProtocolError(ErrorCode.tooManySubscriptions, `at most ${this.gateway.config.maxSubscriptions} subscriptions per connection`);
    }
    // The command carries since, epoch and id: it is the subscribe request as it stands.
    return this.gateway.subscribe(this, channel, command);
  }

  private onPublish(channel: string, payload: Record<string, unknown>, id: string | undefined): Promise<void> | void {
    if (!canPublish(this.principal!, channel)) throw new ProtocolError(ErrorCode.forbidden, `no publish permission on channel ${channel}`);
    const text = JSON.stringify(payload);
    const rare = this.rare;
    if (!takeBytes(rare, this.gateway.publishPolicy, Buffer.byteLength(text), Date.now())) throw publishRateLimited();
    const published = this.gateway.publish(channel, text, this);
    if (rare.publishing >= MAX_PIPELINED_PUBLISHES) return published.then((publication) => this.published(publication, id));
    // Not awaited: the next frame is handled now. Answers come back in order, so acks do too.
    rare.publishing++;
    published.then(
      (publication) => {
        rare.publishing--;
        this.published(publication, id);
      },
      (error) => {
        rare.publishing--;
        this.fail(error, id);
      },
    );
  }

  private published(publication: Publication, id: string | undefined): void {
    if (id !== undefined) this.send(publishedFrame(publication.channel, publication.seq, id));
  }

}
