// The agentwire client: channels (subscribe, publish, request) and chat over one Connection, REST beside it.

import { isReservedChannel, isValidChannel } from "../protocol/channels.ts";
import { ErrorCode } from "../protocol/codes.ts";
import type { PublishedPayload, ServerEnvelope, SubscribedPayload } from "../protocol/server-frames.ts";
import type { PresenceFrame, PresencePayload } from "../protocol/presence.ts";
import { ChatApi } from "./chat.ts";
import type { AgentwireClientOptions } from "./client-options.ts";
import { Connection } from "./connection.ts";
import { AgentwireError, ClientErrorCode, errorFromPayload } from "./errors.ts";
import type { Publication } from "./frames.ts";
import { Subscription, type SubscribeOptions, type SubscriptionHost } from "./subscription.ts";
import { ThreadsApi, httpUrlOf, type FetchLike } from "./threads-api.ts";

export interface RequestOptions {
  timeoutMs?: number;
}

/** A thread subscription the server made for a chat send, and what it delivered before the send's ack claimed it. */
interface Announcement {
  ack: SubscribedPayload;
  buffer: { seq: number; payload: Record<string, unknown> }[];
}

// Publications kept for an announced thread subscription until the chat ack claims it.
const MAX_ANNOUNCED_BUFFER = 10_000;

export class AgentwireClient extends Connection {
  readonly chat: ChatApi;
  readonly threads: ThreadsApi;
  private readonly subscriptions = new Map<string, Subscription<any>>();
  private readonly announcements = new Map<string, Announcement>();
  private readonly subscriptionHost: SubscriptionHost;

  constructor(options: AgentwireClientOptions) {
    super(options);
    const client = this;
    this.subscriptionHost = {
      get online() {
        return client.online;
      },
      requestTimeoutMs: this.requestTimeoutMs,
      minRetryDelayMs: this.minReconnectDelayMs,
      maxRetryDelayMs: this.maxReconnectDelayMs,
      request: (spec) => this.startRequest(spec, false),
      sendUnsubscribe: (channel) => this.sendUnsubscribe(channel),
      queryPresence: (payload) => this.request<PresencePayload>("subscription", payload),
      forget: (subscription) => {
        if (this.subscriptions.get(subscription.channel) === subscription) this.subscriptions.delete(subscription.channel);
      },
    };
    const fetchImpl: FetchLike = options.fetch ?? ((url, init) => globalThis.fetch(url, init));
    this.threads = new ThreadsApi({
      httpUrl: (options.httpUrl ?? httpUrlOf(options.url)).replace(/\/$/, ""),
      token: (refresh) => this.httpToken(refresh),
      canRefresh: this.tokens.refreshable,
      fetch: fetchImpl,
      timeoutMs: this.requestTimeoutMs,
    });
    this.chat = new ChatApi({
      request: (spec) => this.startRequest(spec, true),
      subscription: (channel) => this.subscriptions.get(channel),
      subscribe: (channel, subscribeOptions) => this.addSubscription(channel, undefined, subscribeOptions),
      adopt: (channel) => this.adopt(channel),
      dropUnclaimedAnnouncements: () => {
        for (const channel of [...this.announcements.keys()]) {
          this.announcements.delete(channel);
          this.sendUnsubscribe(channel);
        }
      },
      threads: this.threads,
      requestTimeoutMs: this.requestTimeoutMs,
    });
  }

  /** Disconnects for good: every request, subscription and run handle fails with `client_closed`. */
  close(): void {
    if (this.state === "closed") return;
    this.closeConnection();
    const error = new AgentwireError(ClientErrorCode.clientClosed, "the client is closed");
    this.requests.failAll(error);
    for (const subscription of [...this.subscriptions.values()]) subscription.onClientClosed();
    this.announcements.clear();
    this.chat.dispose(error);
  }

  /**
   * Subscribes to a channel; the Subscription delivers each publication once, in order, across
   * reconnects. One Subscription per channel: a second subscribe() throws `already_subscribed`.
   */
  subscribe<P = Record<string, unknown>>(
    channel: string,
    onPublication?: (publication: Publication<P>) => void,
    options: SubscribeOptions = {},
  ): Subscription<P> {
    // The chat follows a thread with a send in flight from the start, so no run event passes it by.
    return this.addSubscription(channel, onPublication, options, () => this.chat.noticeSubscription(channel));
  }

  getSubscription<P = Record<string, unknown>>(channel: string): Subscription<P> | undefined {
    return this.subscriptions.get(channel);
  }

  /** Publishes (queued while offline); resolves with the publication's seq once the server acked it. */
  publish(channel: string, payload: Record<string, unknown>, options: RequestOptions = {}): Promise<{ seq: number }> {
    if (!isValidChannel(channel)) return Promise.reject(new AgentwireError(ErrorCode.invalidMessage, `invalid channel name ${JSON.stringify(channel)}`));
    if (isReservedChannel(channel)) return Promise.reject(new AgentwireError(ErrorCode.forbidden, `channel ${channel} is reserved`));
    return this.request<PublishedPayload>(channel, payload, options).then((reply) => ({ seq: reply.seq }));
  }

  /**
   * Sends `{channel, id, payload}` (queued while offline) and resolves with the reply's payload; an
   * `error` reply rejects with its code. Replies lost to a disconnect reject with `disconnected`.
   */
  request<T = Record<string, unknown>>(channel: string, payload: Record<string, unknown>, options: RequestOptions = {}): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.startRequest(
        {
          channel,
          payload,
          timeoutMs: options.timeoutMs ?? this.requestTimeoutMs,
          onReply: (frame) => (frame.channel === "error" ? reject(errorFromPayload(frame.payload)) : resolve(frame.payload as T)),
          onFail: reject,
        },
        true,
      );
    });
  }

  // ---- driven by the connection ----

  protected onOnline(): void {
    for (const subscription of [...this.subscriptions.values()]) subscription.onConnected();
  }

  protected onOffline(): void {
    this.announcements.clear();
    for (const subscription of [...this.subscriptions.values()]) subscription.onTransportClosed();
  }

  protected onPresenceFrame(frame: PresenceFrame): void {
    this.subscriptions.get(frame.channel)?.handlePresence(frame.presence);
  }

  protected onFrame(frame: ServerEnvelope): void {
    if (frame.channel === "subscription") return this.onSubscriptionFrame(frame.payload);
    if (frame.seq === undefined || isReservedChannel(frame.channel)) return;
    const subscription = this.subscriptions.get(frame.channel);
    if (subscription) return subscription.handlePublication(frame.seq, frame.payload);
    const announcement = this.announcements.get(frame.channel);
    if (!announcement) return;
    if (announcement.buffer.length >= MAX_ANNOUNCED_BUFFER) {
      this.announcements.delete(frame.channel);
      this.sendUnsubscribe(frame.channel);
      return;
    }
    announcement.buffer.push({ seq: frame.seq, payload: frame.payload });
  }

  private onSubscriptionFrame(payload: Record<string, unknown>): void {
    const channel = payload.channel;
    if (typeof channel !== "string") return;
    if (payload.status === "subscribed") {
      // Without an id: the server subscribed this connection to a thread for a chat send.
      const ack = payload as unknown as SubscribedPayload;
      const subscription = this.subscriptions.get(channel);
      if (subscription) subscription.onAnnouncement(ack);
      else this.announcements.set(channel, { ack, buffer: [] });
    } else if (payload.status === "unsubscribed") {
      this.announcements.delete(channel);
      this.subscriptions.get(channel)?.onServerUnsubscribed(typeof payload.reason === "string" ? payload.reason : "unsubscribed");
    }
  }

  private addSubscription<P>(
    channel: string,
    onPublication: ((publication: Publication<P>) => void) | undefined,
    options: SubscribeOptions,
    beforeStart?: () => void,
  ): Subscription<P> {
    if (this.state === "closed") throw new AgentwireError(ClientErrorCode.clientClosed, "the client is closed");
    if (!isValidChannel(channel)) throw new AgentwireError(ErrorCode.invalidMessage, `invalid channel name ${JSON.stringify(channel)}`);
    if (isReservedChannel(channel)) throw new AgentwireError(ErrorCode.forbidden, `channel ${channel} is reserved`);
    if (this.subscriptions.has(channel)) {
      throw new AgentwireError(ClientErrorCode.alreadySubscribed, `already subscribed to ${channel}; use getSubscription()`);
    }
    const subscription = new Subscription<P>(channel, this.subscriptionHost, options);
    if (onPublication) subscription.on("publication", onPublication);
    this.subscriptions.set(channel, subscription);
    const announcement = options.since === undefined ? this.announcements.get(channel) : undefined;
    this.announcements.delete(channel);
    beforeStart?.();
    if (announcement) {
      // A chat send of this connection already subscribed it: the announcement is the ack.
      subscription.adopt(announcement.ack);
      for (const item of announcement.buffer) subscription.handlePublication(item.seq, item.payload as P);
    } else {
      subscription.activate();
    }
    return subscription;
  }

  /** The chat's ack claims an announced thread subscription: it becomes a Subscription, buffer delivered on flush(). */
  private adopt(channel: string): { subscription: Subscription<any>; flush(): void } | undefined {
    const announcement = this.announcements.get(channel);
    if (!announcement || this.subscriptions.has(channel)) return undefined;
    this.announcements.delete(channel);
    const subscription = new Subscription(channel, this.subscriptionHost);
    this.subscriptions.set(channel, subscription);
    subscription.adopt(announcement.ack);
    return {
      subscription,
      flush: () => {
        for (const item of announcement.buffer) subscription.handlePublication(item.seq, item.payload);
      },
    };
  }

  private sendUnsubscribe(channel: string): void {
    if (!this.online) return;
    // With an id, so the ack is a reply and not mistaken for the server ending a subscription.
    this.startRequest({ channel: "subscription", payload: { action: "unsubscribe", channel }, timeoutMs: this.requestTimeoutMs, onReply: () => {}, onFail: () => {} }, false);
  }
}
