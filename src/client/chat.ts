// Chat with the built-in agent over the socket: send a message and get a RunHandle, or watch a run
// already going (after a page reload); each handle sees each of its run's events exactly once.

import { threadChannel, threadIdOf } from "../protocol/channels.ts";
import { ErrorCode } from "../protocol/codes.ts";
import type { MessageView } from "../protocol/rest-views.ts";
import type { RunAccepted, RunControlAck } from "../protocol/server-frames.ts";
import { ApiError, errorFromPayload, type AgentwireError } from "./errors.ts";
import type { RequestSpec } from "./requests.ts";
import { RunHandle, finalEventOf } from "./run-handle.ts";
import type { SubscribeOptions, Subscription } from "./subscription.ts";
import { ThreadFeed } from "./thread-feed.ts";
import type { ThreadsApi } from "./threads-api.ts";

/** What the chat needs of its client. */
export interface ChatHost {
  /** Sends a request, queued while offline. */
  request(spec: RequestSpec): void;
  subscription(channel: string): Subscription<any> | undefined;
  /** A new subscription owned by the chat. */
  subscribe(channel: string, options: SubscribeOptions): Subscription<any>;
  /** Takes over the subscription the server announced for a chat send; `flush` then delivers what came meanwhile. */
  adopt(channel: string): { subscription: Subscription<any>; flush(): void } | undefined;
  /** Ends announced subscriptions no send claimed (their send failed or timed out). */
  dropUnclaimedAnnouncements(): void;
  readonly threads: ThreadsApi;
  readonly requestTimeoutMs: number;
}

export interface SendOptions {
  /** Omit to start a new thread. */
  threadId?: string;
  /** Default true: reasoning deltas are published. */
  useReasoning?: boolean;
  timeoutMs?: number;
}

export class ChatApi {
  private readonly feeds = new Map<string, ThreadFeed>();
  private sendsInFlight = 0;
  // Sends waiting for their ack, per thread (sends that start a thread are not known by thread yet).
  private readonly sendsByThread = new Map<string, number>();

  constructor(private readonly host: ChatHost) {}

  /**
   * Sends a user message (queued while offline) and resolves with the handle of the run it starts.
   *
   * Exactly once: the server subscribes this connection to `thread:T` before the run's first event and
   * announces it with a `subscribed` frame (no id) that arrives before the ack. The client keeps that
   * announcement and buffers the channel's publications from it; when the ack names the channel, the
   * chat adopts the announcement as the ack of its own Subscription (lastSeq = announced seq) and the
   * buffer is delivered through it. Every frame arrives in order on one socket, so the Subscription sees
   * every event after the announced seq once; after a reconnect it resumes with `since`/`epoch`. When
   * the thread already had a local subscription, the events that beat the ack wait in the thread's feed
   * until the ack names their message.
   */
  send(content: string, options: SendOptions = {}): Promise<RunHandle> {
    return new Promise<RunHandle>((resolve, reject) => {
      const payload: Record<string, unknown> = { action: "send", content };
      if (options.threadId !== undefined) payload.thread_id = options.threadId;
      if (options.useReasoning !== undefined) payload.use_reasoning = options.useReasoning;
      const threadId = options.threadId;
      if (threadId !== undefined) {
        this.sendsByThread.set(threadId, (this.sendsByThread.get(threadId) ?? 0) + 1);
        // A subscription the client already has on the thread may deliver the run's first events before
        // the ack: follow it from now on, so its feed keeps them until the ack names their message.
        this.existingFeed(threadId);
      }
      this.sendsInFlight++;
      const settled = () => {
        this.sendsInFlight--;
        if (threadId !== undefined) {
          const left = (this.sendsByThread.get(threadId) ?? 1) - 1;
          if (left > 0) this.sendsByThread.set(threadId, left);
          else this.sendsByThread.delete(threadId);
          this.feeds.get(threadChannel(threadId))?.checkIdle();
        }
        if (this.sendsInFlight === 0) this.host.dropUnclaimedAnnouncements();
      };
      this.host.request({
        channel: "chat",
        payload,
        timeoutMs: options.timeoutMs ?? this.host.requestTimeoutMs,
        onReply: (frame) => {
          if (frame.channel === "error") {
            settled();
            return reject(errorFromPayload(frame.payload));
          }
          let handle: RunHandle;
          try {
            handle = this.attach(frame.payload as unknown as RunAccepted);
          } catch (error) {
            settled();
            return reject(error);
          }
          settled();
          resolve(handle);
        },
        onFail: (error) => {
          settled();
          reject(error);
        },
      });
    });
  }

  /**
   * A handle on a run already going (or finished), e.g. after a page reload: loads the thread's
   * snapshot, then follows the channel from the snapshot's seq. `handle.snapshot.content` is the text so
   * far and the handle yields the events after it, so `handle.text` grows to the full answer with nothing
   * missed or doubled. Without `messageId`, the thread's last assistant message. A finished run's handle
   * ends at once with a final event made from the stored message.
   */
  async watch(threadId: string, messageId?: string): Promise<RunHandle> {
    const channel = threadChannel(threadId);
    const known = messageId === undefined ? undefined : this.feeds.get(channel)?.handles.get(messageId);
    if (known) return known;
    const snapshot = await this.host.threads.messages(threadId);
    const message =
      messageId === undefined
        ? [...snapshot.messages].reverse().find((candidate) => candidate.role === "assistant")
        : snapshot.messages.find((candidate) => candidate.id === messageId);
    if (!message) {
      throw new ApiError(ErrorCode.notFound, messageId === undefined ? `thread ${threadId} has no assistant message` : `no message ${messageId} in thread ${threadId}`, 404);
    }
    const again = this.feeds.get(channel)?.handles.get(message.id);
    if (again) return again;
    const final = finalEventOf(message, threadId);
    if (final) {
      const handle = this.newHandle(threadId, message.id, channel, undefined, message, snapshot.seq);
      handle.finishWith(final);
      return handle;
    }
    let feed = this.feeds.get(channel);
    const backfill = feed !== undefined;
    if (!feed) {
      // Not expected for a subscription the application made (subscribe() gives it a feed), only for one
      // the feed of which ended; what it delivered before this feed cannot be replayed for the handle.
      const existing = this.host.subscription(channel);
      const subscription = existing ?? this.host.subscribe(channel, { since: snapshot.seq, epoch: snapshot.epoch });
      feed = this.newFeed(threadId, subscription, existing === undefined);
    }
    const handle = this.newHandle(threadId, message.id, channel, feed, message, snapshot.seq);
    feed.add(handle, backfill);
    return handle;
  }

  /**
   * @internal The application subscribed to a channel: when it is a thread, follow it from the start, so a
   * send's early events and the recent events a later watch() needs are all kept.
   */
  noticeSubscription(channel: string): void {
    const threadId = threadIdOf(channel);
    if (threadId !== undefined) this.existingFeed(threadId);
  }

  /** @internal The client is closed: every handle fails. */
  dispose(error: AgentwireError): void {
    for (const feed of [...this.feeds.values()]) {
      feed.close();
      feed.failAll(error);
    }
    this.feeds.clear();
  }

  private attach(ack: RunAccepted): RunHandle {
    const channel = ack.channel || threadChannel(ack.thread_id);
    const known = this.feeds.get(channel)?.handles.get(ack.message_id);
    if (known) return known;
    let feed = this.feeds.get(channel);
    let flush: (() => void) | undefined;
    if (!feed) {
      const existing = this.host.subscription(channel);
      if (existing) {
        feed = this.newFeed(ack.thread_id, existing, false);
      } else {
        const adopted = this.host.adopt(channel);
        if (adopted) {
          feed = this.newFeed(ack.thread_id, adopted.subscription, true);
          flush = adopted.flush;
        } else {
          // Not expected (the announcement precedes the ack on the same socket). `since: 0` without an
          // epoch is never recovered, so the reset reloads the thread and resumes from its snapshot.
          feed = this.newFeed(ack.thread_id, this.host.subscribe(channel, { since: 0 }), true);
        }
      }
    }
    const handle = this.newHandle(ack.thread_id, ack.message_id, channel, feed);
    feed.add(handle);
    flush?.();
    return handle;
  }

  /** The feed of a thread the client already follows, for a send on it; undefined when it follows nothing there. */
  private existingFeed(threadId: string): ThreadFeed | undefined {
    const channel = threadChannel(threadId);
    const feed = this.feeds.get(channel);
    if (feed) return feed;
    const subscription = this.host.subscription(channel);
    return subscription ? this.newFeed(threadId, subscription, false) : undefined;
  }

  private newFeed(threadId: string, subscription: Subscription<any>, owned: boolean): ThreadFeed {
    const sendsInFlight = () => this.sendsByThread.get(threadId) ?? 0;
    const feed = new ThreadFeed(threadId, subscription, owned, this.host.threads, sendsInFlight, (idle) => {
      if (this.feeds.get(subscription.channel) === idle) this.feeds.delete(subscription.channel);
      idle.close();
    });
    this.feeds.set(subscription.channel, feed);
    return feed;
  }

  private newHandle(threadId: string, messageId: string, channel: string, feed: ThreadFeed | undefined, snapshot?: MessageView, fromSeq?: number): RunHandle {
    const handle: RunHandle = new RunHandle({
      threadId,
      messageId,
      channel,
      snapshot,
      fromSeq,
      control: (payload) => this.control(payload),
      onSettled: () => feed?.release(handle),
    });
    return handle;
  }

  private control(payload: Record<string, unknown>): Promise<RunControlAck> {
    return new Promise<RunControlAck>((resolve, reject) => {
      this.host.request({
        channel: "chat",
        payload,
        timeoutMs: this.host.requestTimeoutMs,
        onReply: (frame) => (frame.channel === "error" ? reject(errorFromPayload(frame.payload)) : resolve(frame.payload as unknown as RunControlAck)),
        onFail: reject,
      });
    });
  }
}
