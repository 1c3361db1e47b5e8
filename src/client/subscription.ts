// One channel subscription as an explicit state machine that delivers each publication exactly once,
// in seq order, across reconnects: it resumes with `since`/`epoch`, drops duplicates and repairs gaps.

import { ErrorCode } from "../protocol/codes.ts";
import type { ServerEnvelope, SubscribedPayload } from "../protocol/server-frames.ts";
import { Backoff } from "./backoff.ts";
import { Emitter } from "./emitter.ts";
import { AgentwireError, ClientErrorCode, errorFromPayload } from "./errors.ts";
import { presenceChanges, type Publication } from "./frames.ts";
import type { PresenceChange, PresenceDiff, PresencePayload } from "../protocol/presence.ts";
import type { RequestSpec } from "./requests.ts";

export type SubscriptionState = "unsubscribed" | "subscribing" | "subscribed";

/** Where to resume a channel: the last seq already reflected, of that epoch. */
export interface ResumePosition {
  seq: number;
  epoch: string;
}

/**
 * Called when history was lost (`recovered: false`). Return nothing to go on from the ack's seq; or
 * return a promise of the position the application reloaded its state to (for a thread, the `seq`
 * and `epoch` of `GET /threads/:id/messages`): publications are held back meanwhile and the
 * subscription then resumes from that position, so the reload and the stream neither overlap nor miss.
 */
export type ResetHandler = (ack: SubscribedPayload) => void | Promise<ResumePosition | void>;

export interface SubscribeOptions {
  onReset?: ResetHandler;
  /** The last seq the application already has (with `epoch`): the first subscribe recovers after it. */
  since?: number;
  epoch?: string;
  /** Also receive the channel's joins, leaves and updates as `presence` events (docs/protocol.md section 14). */
  presence?: boolean;
}

/** A page of the presence query: `limit` clients at most (the server's default 100), after `cursor`. */
export interface PresenceQuery {
  limit?: number;
  cursor?: string;
}

export interface SubscriptionEvents<P> {
  state: { state: SubscriptionState; previous: SubscriptionState };
  /** Every ack: the first one and each after a reconnect. */
  subscribed: SubscribedPayload;
  publication: Publication<P>;
  /** History was lost: what the application holds may miss publications; reload it. */
  reset: SubscribedPayload;
  error: AgentwireError;
  /** The subscription ended: `client` (unsubscribe()), or the server's reason (e.g. `forbidden`). */
  unsubscribed: { reason: string };
  /**
   * A client joined or left, or the agent's state changed (subscribed with `presence: true`); a
   * coalesced frame arrives as its changes one by one. Changes are not replayed after a reconnect:
   * query presence() again on each `subscribed`.
   */
  presence: PresenceChange;
}

/** What a Subscription needs of its client. */
export interface SubscriptionHost {
  /** Whether the connection is authenticated, so frames can be sent now. */
  readonly online: boolean;
  readonly requestTimeoutMs: number;
  readonly minRetryDelayMs: number;
  readonly maxRetryDelayMs: number;
  /** Sends a request now; only called while online. */
  request(spec: RequestSpec): void;
  sendUnsubscribe(channel: string): void;
  /** Sends a presence query (queued while offline) and resolves with its answer. */
  queryPresence(payload: Record<string, unknown>): Promise<PresencePayload>;
  forget(subscription: Subscription<any>): void;
}

// Refusals that retrying cannot fix.
const TERMINAL = new Set<string>([
  ErrorCode.forbidden,
  ErrorCode.invalidMessage,
  ErrorCode.notFound,
  ErrorCode.tooManySubscriptions,
  ClientErrorCode.clientClosed,
]);
// Resets in a row that may reload and resume; after that the subscription goes on from the ack, so a
// history too short to ever cover a reload cannot loop.
const MAX_RELOADS_IN_A_ROW = 3;

export class Subscription<P = Record<string, unknown>> extends Emitter<SubscriptionEvents<P>> {
  state: SubscriptionState = "unsubscribed";
  /** The seq of the last publication delivered (or the position resumed from); undefined before the first ack. */
  lastSeq: number | undefined;
  epoch: string | undefined;
  private generation = 0;
  private requestPending = false;
  private sentSince: number | undefined;
  // The automatic thread subscription's announcement, when it arrives while this one's first ack is pending.
  private announced: ResumePosition | undefined;
  private reloading = false;
  private resetsInARow = 0;
  private retryTimer: ReturnType<typeof setTimeout> | undefined;
  private readonly backoff: Backoff;
  private readonly resetHandlers = new Set<ResetHandler>();
  private readonly withPresence: boolean;

  constructor(
    readonly channel: string,
    private readonly host: SubscriptionHost,
    options: SubscribeOptions = {},
  ) {
    super();
    this.backoff = new Backoff(host.minRetryDelayMs, host.maxRetryDelayMs);
    if (options.onReset) this.resetHandlers.add(options.onReset);
    this.withPresence = options.presence === true;
    if (options.since !== undefined) {
      this.lastSeq = options.since;
      this.epoch = options.epoch;
    }
  }

  /** Ends the subscription: no more publications, and the server is told. */
  unsubscribe(): void {
    if (this.state === "unsubscribed") return;
    const online = this.host.online;
    this.end("client");
    if (online) this.host.sendUnsubscribe(this.channel);
  }

  /** Who is present on the channel: one page (pass its `next_cursor` as `cursor` for the next). */
  presence(query: PresenceQuery = {}): Promise<PresencePayload> {
    const payload: Record<string, unknown> = { action: "presence", channel: this.channel };
    if (query.limit !== undefined) payload.limit = query.limit;
    if (query.cursor !== undefined) payload.cursor = query.cursor;
    return this.host.queryPresence(payload);
  }

  /** Adds a reset handler beside the one given to subscribe(); returns a function that removes it. */
  addResetHandler(handler: ResetHandler): () => void {
    this.resetHandlers.add(handler);
    return () => this.resetHandlers.delete(handler);
  }

  // ---- driven by the client ----

  /** @internal Starts subscribing (now when online, else on connect). */
  activate(): void {
    this.setState("subscribing");
    if (this.host.online) this.sendSubscribe();
  }

  /** @internal The server already subscribed this connection (the chat `send`'s announcement): that is the ack. */
  adopt(ack: SubscribedPayload): void {
    this.lastSeq = ack.seq;
    this.epoch = ack.epoch;
    this.setState("subscribed");
    this.emit("subscribed", ack);
  }

  /** @internal The connection is authenticated: (re)subscribe from what was delivered. */
  onConnected(): void {
    if (this.state === "subscribing" && !this.requestPending && !this.reloading) this.sendSubscribe();
  }

  /** @internal The connection dropped; the server forgot this subscription. */
  onTransportClosed(): void {
    if (this.state === "unsubscribed") return;
    this.clearRetry();
    this.generation++;
    this.requestPending = false;
    this.setState("subscribing");
  }

  /** @internal A publication on this channel. */
  handlePublication(seq: number, payload: P): void {
    // Before the ack, publications are either older than the position the ack gives, or replayed after it.
    if (this.state !== "subscribed" || this.lastSeq === undefined) return;
    if (seq <= this.lastSeq) return;
    if (seq > this.lastSeq + 1) {
      // A gap without recovery: ask again from the last one delivered; the replay fills it.
      this.resubscribe();
      return;
    }
    this.lastSeq = seq;
    this.emit("publication", { channel: this.channel, seq, payload });
  }

  /** @internal A presence frame of this channel. */
  handlePresence(presence: PresenceChange | PresenceDiff): void {
    if (this.state !== "subscribed") return;
    for (const change of presenceChanges(presence)) this.emit("presence", change);
  }

  /** @internal A `subscribed` frame without id for this channel: the server re-subscribed us for a chat send. */
  onAnnouncement(ack: SubscribedPayload): void {
    if (this.state === "subscribing") {
      if (this.lastSeq === undefined) this.announced = { seq: ack.seq, epoch: ack.epoch };
      return;
    }
    if (this.state !== "subscribed" || this.lastSeq === undefined) return;
    // Re-subscribing may have skipped publications that were in flight; recover from what we have.
    if (ack.epoch !== this.epoch || ack.seq > this.lastSeq) this.resubscribe();
  }

  /** @internal The server ended the subscription (after a token refresh the new claims do not allow it). */
  onServerUnsubscribed(reason: string): void {
    if (this.state === "unsubscribed") return;
    this.end(reason, new AgentwireError(reason === ErrorCode.forbidden ? ErrorCode.forbidden : ClientErrorCode.unsubscribed, `the server ended the subscription to ${this.channel} (${reason})`));
  }

  /** @internal The client is closed. */
  onClientClosed(): void {
    if (this.state === "unsubscribed") return;
    this.end(ClientErrorCode.clientClosed);
  }

  // ---- the state machine ----

  private setState(state: SubscriptionState): void {
    if (this.state === state) return;
    const previous = this.state;
    this.state = state;
    this.emit("state", { state, previous });
  }

  private resubscribe(): void {
    this.setState("subscribing");
    this.generation++;
    this.requestPending = false;
    if (this.host.online) this.sendSubscribe();
  }

  private sendSubscribe(): void {
    this.clearRetry();
    const generation = ++this.generation;
    const payload: Record<string, unknown> = { action: "subscribe", channel: this.channel };
    if (this.withPresence) payload.presence = true;
    if (this.lastSeq !== undefined) {
      payload.since = this.lastSeq;
      if (this.epoch !== undefined) payload.epoch = this.epoch;
    }
    this.sentSince = this.lastSeq;
    this.requestPending = true;
    this.host.request({
      channel: "subscription",
      payload,
      timeoutMs: this.host.requestTimeoutMs,
      onReply: (frame) => {
        if (generation !== this.generation) return;
        this.requestPending = false;
        this.onReply(frame);
      },
      onFail: (error) => {
        if (generation !== this.generation) return;
        this.requestPending = false;
        this.onSubscribeFailed(error);
      },
    });
  }

  private onReply(frame: ServerEnvelope): void {
    if (frame.channel === "error") return this.onSubscribeFailed(errorFromPayload(frame.payload));
    const ack = frame.payload as unknown as SubscribedPayload;
    if (this.state !== "subscribing" || ack.status !== "subscribed") return;
    this.backoff.reset();
    if (this.sentSince !== undefined && ack.recovered === false) return this.onReset(ack);
    this.resetsInARow = 0;
    const announced = this.announced;
    this.announced = undefined;
    if (this.sentSince === undefined) {
      // A chat send subscribed this connection before our subscribe was answered: what it announced is
      // this connection's, so resume from there rather than skip the publications in between.
      if (announced && announced.epoch === ack.epoch && announced.seq < ack.seq) {
        this.lastSeq = announced.seq;
        this.epoch = ack.epoch;
        this.resubscribe();
        return;
      }
      this.lastSeq = ack.seq;
    }
    // When recovered, lastSeq stays at `since`: the replay follows this ack.
    this.epoch = ack.epoch;
    this.setState("subscribed");
    this.emit("subscribed", ack);
  }

  private onReset(ack: SubscribedPayload): void {
    this.lastSeq = ack.seq;
    this.epoch = ack.epoch;
    this.resetsInARow++;
    this.emit("reset", ack);
    const reloads: Promise<ResumePosition | void>[] = [];
    for (const handler of [...this.resetHandlers]) {
      try {
        const result = handler(ack);
        if (result && typeof (result as Promise<unknown>).then === "function") reloads.push(result as Promise<ResumePosition | void>);
      } catch (error) {
        this.emit("error", new AgentwireError(ClientErrorCode.unsubscribed, "a reset handler failed", undefined, { cause: error }));
      }
    }
    if (reloads.length === 0 || this.resetsInARow > MAX_RELOADS_IN_A_ROW) {
      this.setState("subscribed");
      this.emit("subscribed", ack);
      return;
    }
    // Hold publications back (state stays subscribing) until the reload says where to resume.
    this.reloading = true;
    void Promise.allSettled(reloads).then((results) => {
      this.reloading = false;
      if (this.state !== "subscribing") return;
      let position: ResumePosition | undefined;
      for (const result of results) {
        const value = result.status === "fulfilled" ? result.value : undefined;
        if (value && (position === undefined || value.seq < position.seq)) position = value;
      }
      // Without a position, resume from the reset's ack: the held-back publications are replayed.
      if (position) {
        this.lastSeq = position.seq;
        this.epoch = position.epoch;
      }
      if (this.host.online && !this.requestPending) this.sendSubscribe();
    });
  }

  private onSubscribeFailed(error: AgentwireError): void {
    if (this.state !== "subscribing") return;
    // A dropped connection resubscribes on reconnect.
    if (error.code === ClientErrorCode.disconnected) return;
    if (TERMINAL.has(error.code)) {
      this.end(error.code, error);
      return;
    }
    // unavailable, internal, rate_limited, timeout: try again later.
    this.emit("error", error);
    const delay = this.backoff.next();
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      if (this.state === "subscribing" && this.host.online && !this.requestPending) this.sendSubscribe();
    }, delay);
  }

  private end(reason: string, error?: AgentwireError): void {
    this.clearRetry();
    this.generation++;
    this.requestPending = false;
    this.reloading = false;
    this.setState("unsubscribed");
    this.host.forget(this);
    if (error) this.emit("error", error);
    this.emit("unsubscribed", { reason });
  }

  private clearRetry(): void {
    if (this.retryTimer !== undefined) clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
  }
}
