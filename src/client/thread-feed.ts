// Routes the events of one `thread:<id>` subscription to the RunHandles of its runs, and re-bases them
// on the stored messages when the thread's history was lost.

import { ErrorCode } from "../protocol/codes.ts";
import type { RunEventPayload } from "../protocol/run-events.ts";
import type { SubscribedPayload } from "../protocol/server-frames.ts";
import { AgentwireError, ClientErrorCode } from "./errors.ts";
import type { RunHandle } from "./run-handle.ts";
import type { ResumePosition, Subscription } from "./subscription.ts";
import type { ThreadsApi } from "./threads-api.ts";

interface Item {
  seq: number;
  event: RunEventPayload;
}

// Bounds of the two small logs below; a run's early events or a watch's backfill need far fewer.
const MAX_EARLY = 1_000;
const MAX_RECENT = 1_000;

export class ThreadFeed {
  readonly handles = new Map<string, RunHandle>();
  // Events of messages without a handle yet, kept while a send waits for its ack: the run may start
  // publishing before the ack that names its message arrives.
  private early: Item[] = [];
  // The latest events, for a watch that attaches to a thread this feed already follows.
  private recent: Item[] = [];
  private lastError: AgentwireError | undefined;
  private readonly detachers: (() => void)[];

  constructor(
    readonly threadId: string,
    readonly subscription: Subscription<any>,
    /** Whether the chat created the subscription (and so ends it when no run needs it). */
    private readonly owned: boolean,
    private readonly threads: ThreadsApi,
    /** How many chat sends on this thread wait for their ack. */
    private readonly sendsInFlight: () => number,
    private readonly onIdle: (feed: ThreadFeed) => void,
  ) {
    this.detachers = [
      subscription.on("publication", (publication) => this.route(publication.seq, publication.payload as RunEventPayload)),
      subscription.addResetHandler((ack) => this.reload(ack)),
      subscription.on("subscribed", () => void (this.lastError = undefined)),
      subscription.on("error", (error) => void (this.lastError = error)),
      subscription.on("unsubscribed", ({ reason }) => this.onEnded(reason)),
    ];
  }

  /** Registers a handle: it gets the early events of its message and, with `backfill`, the recent ones. */
  add(handle: RunHandle, backfill = false): void {
    this.handles.set(handle.messageId, handle);
    const mine = (item: Item) => item.event.message_id === handle.messageId;
    const early = this.early.filter(mine);
    this.early = this.early.filter((item) => !mine(item));
    // The handle drops what its snapshot already reflects (seq <= its fromSeq).
    for (const item of backfill ? this.recent.filter(mine) : early) handle.push(item.event, item.seq);
  }

  release(handle: RunHandle): void {
    if (this.handles.get(handle.messageId) === handle) this.handles.delete(handle.messageId);
    this.checkIdle();
  }

  checkIdle(): void {
    if (this.sendsInFlight() > 0) return;
    this.early = [];
    // On the application's own subscription the feed lasts as long as it: its recent events are what a
    // later watch() of a run needs from before its snapshot was read.
    if (this.handles.size === 0 && this.owned) this.onIdle(this);
  }

  /** Stops listening; ends the subscription too when the chat created it. */
  close(): void {
    for (const detach of this.detachers.splice(0)) detach();
    if (this.owned && this.subscription.state !== "unsubscribed") this.subscription.unsubscribe();
  }

  failAll(error: AgentwireError): void {
    for (const handle of [...this.handles.values()]) handle.fail(error);
  }

  private route(seq: number, event: RunEventPayload): void {
    if (typeof event?.message_id !== "string") return;
    const item = { seq, event };
    this.recent.push(item);
    if (this.recent.length > MAX_RECENT) this.recent.shift();
    const handle = this.handles.get(event.message_id);
    if (handle) return handle.push(event, seq);
    if (this.sendsInFlight() > 0) {
      this.early.push(item);
      if (this.early.length > MAX_EARLY) this.early.shift();
    }
  }

  /**
   * History was lost: reload the thread, re-base every handle on its stored message, and resume the
   * channel from the snapshot's position, so each handle's text is the stored text plus what follows,
   * none missed or doubled.
   */
  private reload(ack: SubscribedPayload): Promise<ResumePosition> | void {
    if (this.handles.size === 0) return;
    this.early = [];
    this.recent = [];
    return this.threads.messages(this.threadId).then(
      (snapshot) => {
        for (const handle of [...this.handles.values()]) {
          handle.resetTo(
            snapshot.messages.find((message) => message.id === handle.messageId),
            snapshot.seq,
          );
        }
        return { seq: snapshot.seq, epoch: snapshot.epoch };
      },
      () => {
        for (const handle of [...this.handles.values()]) handle.resetTo(undefined, ack.seq);
        return { seq: ack.seq, epoch: ack.epoch };
      },
    );
  }

  private onEnded(reason: string): void {
    const code = reason === ErrorCode.forbidden || reason === ClientErrorCode.clientClosed ? reason : ClientErrorCode.unsubscribed;
    const error = this.lastError ?? new AgentwireError(code, `the subscription to ${this.subscription.channel} ended (${reason})`);
    for (const detach of this.detachers.splice(0)) detach();
    this.failAll(error);
    this.onIdle(this);
  }
}
