// The runs this node executes, by thread and by message: at most one per thread, reserved before
// anything is stored and released once the run's end is stored.

import { ErrorCode, ProtocolError } from "../protocol/index.ts";
import { Approvals } from "./approvals.ts";

export interface ActiveRun {
  readonly threadId: string;
  /** The thread's owner, whose the run's messages are. */
  readonly ownerId: string;
  /** Who sent the message the run answers: the owner, or an editor of a shared thread. */
  readonly startedBy: string;
  readonly messageId: string;
  /** The run's one way to stop (docs/protocol.md section 6.3). */
  readonly controller: AbortController;
  readonly approvals: Approvals;
  /** Settles once the run is over, or once it failed to start. */
  readonly done: Promise<void>;
  /** Settles `done`. */
  finish(): void;
}

export class RunRegistry {
  private readonly byThread = new Map<string, ActiveRun>();
  private readonly byMessage = new Map<string, ActiveRun>();

  constructor(private readonly approvalTimeoutMs: number) {}

  get size(): number {
    return this.byMessage.size;
  }

  /** A new run on the thread of `ownerId`; `conflict` when it has one here. Checked and reserved in one synchronous step, so two sends cannot both pass. */
  reserve(threadId: string, ownerId: string, startedBy = ownerId): ActiveRun {
    if (this.byThread.has(threadId)) throw new ProtocolError(ErrorCode.conflict, "a run is already active on this thread");
    const { promise, resolve } = Promise.withResolvers<void>();
    const run: ActiveRun = {
      threadId,
      ownerId,
      startedBy,
      messageId: crypto.randomUUID(),
      controller: new AbortController(),
      approvals: new Approvals(this.approvalTimeoutMs),
      done: promise,
      finish: () => resolve(),
    };
    this.byThread.set(threadId, run);
    this.byMessage.set(run.messageId, run);
    return run;
  }

  onThread(threadId: string): ActiveRun | undefined {
    return this.byThread.get(threadId);
  }

  get(messageId: string): ActiveRun | undefined {
    return this.byMessage.get(messageId);
  }

  /** The run of `messageId`: `not_found` when this node has none. */
  active(messageId: string): ActiveRun {
    const run = this.byMessage.get(messageId);
    if (!run) throw new ProtocolError(ErrorCode.notFound, `no active run for message ${messageId}`);
    return run;
  }

  all(): ActiveRun[] {
    return [...this.byMessage.values()];
  }

  /** Forgets a run; safe to call twice. */
  release(run: ActiveRun): void {
    if (this.byMessage.get(run.messageId) !== run) return;
    this.byThread.delete(run.threadId);
    this.byMessage.delete(run.messageId);
  }
}
