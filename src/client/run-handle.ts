// One agent run as the application sees it: an async iterable of its events that ends with the final
// one, the final event as a promise, and stop/approve/reject.

import type { MessageView } from "../protocol/rest-views.ts";
import type { RunEventPayload } from "../protocol/run-events.ts";
import { agentStateAfter } from "../protocol/agent-state.ts";
import type { AgentState } from "../protocol/presence.ts";
import type { RunControlAck } from "../protocol/server-frames.ts";
import { Emitter } from "./emitter.ts";
import type { AgentwireError } from "./errors.ts";

export interface RunHandleEvents {
  /** Each run event, once, in order (the iterator yields the same). */
  event: RunEventPayload;
  /**
   * The thread's history was lost (a server restart, or history too short) and the handle was re-based
   * on the stored message: show `message.content` (the text so far) in place of what was accumulated.
   * `message` is undefined when the thread could not be reloaded.
   */
  reset: { message: MessageView | undefined };
  error: AgentwireError;
  /** The agent's state changed (`undefined` once the run is over), as its presence on the thread announces it. */
  agentState: AgentState | undefined;
}

/** Sends a control action for this run on the `chat` channel and resolves with the ack. */
export type RunControl = (payload: Record<string, unknown>) => Promise<RunControlAck>;

export interface RunHandleInit {
  threadId: string;
  messageId: string;
  channel: string;
  control: RunControl;
  /** The stored message the handle starts from (chat.watch): its text so far. */
  snapshot?: MessageView;
  /** Events up to this seq are reflected in the snapshot. */
  fromSeq?: number;
  onSettled?: () => void;
}

export class RunHandle extends Emitter<RunHandleEvents> implements AsyncIterable<RunEventPayload> {
  readonly threadId: string;
  readonly messageId: string;
  /** `thread:<threadId>`. */
  readonly channel: string;
  /** Every event received so far, in order. */
  readonly events: RunEventPayload[] = [];
  /** Resolves with the final event (`final_message: true`); rejects if the handle fails (client closed, thread gone). */
  readonly done: Promise<RunEventPayload>;
  /** The stored message the handle started from, or was re-based on after a reset. */
  snapshot: MessageView | undefined;
  final: RunEventPayload | undefined;
  error: AgentwireError | undefined;
  /**
   * What the agent is doing (docs/protocol.md section 14): `thinking`, `tool`, `responding` or
   * `awaiting_approval`, read from the run's events as the server does for its presence; undefined
   * before the first event and once the run is over.
   */
  agentState: AgentState | undefined;
  private fromSeq: number;
  private baseText: string;
  private deltaText = "";
  private readonly control: RunControl;
  private readonly onSettled: (() => void) | undefined;
  private wake: (() => void)[] = [];
  private resolveDone!: (event: RunEventPayload) => void;
  private rejectDone!: (error: AgentwireError) => void;

  constructor(init: RunHandleInit) {
    super();
    this.threadId = init.threadId;
    this.messageId = init.messageId;
    this.channel = init.channel;
    this.control = init.control;
    this.snapshot = init.snapshot;
    this.fromSeq = init.fromSeq ?? 0;
    this.baseText = init.snapshot?.content ?? "";
    this.onSettled = init.onSettled;
    this.done = new Promise<RunEventPayload>((resolve, reject) => {
      this.resolveDone = resolve;
      this.rejectDone = reject;
    });
    // The application may only iterate; a failure must not also surface as an unhandled rejection.
    this.done.catch(() => {});
  }

  get finished(): boolean {
    return this.final !== undefined || this.error !== undefined;
  }

  /** The answer so far: the snapshot's text plus the response deltas since; the full text once final. */
  get text(): string {
    if (this.final && this.final.type === "response") return this.final.message;
    return this.baseText + this.deltaText;
  }

  stop(): Promise<RunControlAck> {
    return this.control({ action: "stop", message_id: this.messageId });
  }

  approve(callId: string): Promise<RunControlAck> {
    return this.control({ action: "approve", message_id: this.messageId, call_id: callId });
  }

  reject(callId: string, reason?: string): Promise<RunControlAck> {
    const payload: Record<string, unknown> = { action: "reject", message_id: this.messageId, call_id: callId };
    if (reason !== undefined) payload.reason = reason;
    return this.control(payload);
  }

  /** Yields every event of the run from the start of the handle, then ends after the final one. */
  [Symbol.asyncIterator](): AsyncIterator<RunEventPayload> {
    let index = 0;
    let returned = false;
    return {
      next: async (): Promise<IteratorResult<RunEventPayload>> => {
        for (;;) {
          if (returned) return { value: undefined, done: true };
          if (index < this.events.length) return { value: this.events[index++]!, done: false };
          if (this.final) return { value: undefined, done: true };
          if (this.error) throw this.error;
          await new Promise<void>((resolve) => this.wake.push(resolve));
        }
      },
      return: async (): Promise<IteratorResult<RunEventPayload>> => {
        returned = true;
        this.notify();
        return { value: undefined, done: true };
      },
    };
  }

  /** @internal An event of this run at `seq` of the thread channel. */
  push(event: RunEventPayload, seq: number): void {
    if (this.finished || seq <= this.fromSeq) return;
    this.events.push(event);
    if (event.type === "response" && event.status === "in_progress") this.deltaText += event.message;
    this.followAgent(event);
    this.emit("event", event);
    if (event.final_message) this.settle(event);
    else this.notify();
  }

  /** @internal The run's outcome is known without its final event (a finished stored message). */
  finishWith(final: RunEventPayload): void {
    if (this.finished) return;
    this.events.push(final);
    this.emit("event", final);
    this.settle(final);
  }

  /** @internal Re-based on the stored message after history was lost; later events start after `seq`. */
  resetTo(message: MessageView | undefined, seq: number): void {
    if (this.finished) return;
    this.snapshot = message ?? this.snapshot;
    this.fromSeq = seq;
    if (message) {
      this.baseText = message.content;
      this.deltaText = "";
    }
    this.emit("reset", { message });
    const final = message ? finalEventOf(message, this.threadId) : undefined;
    if (final) this.finishWith(final);
  }

  /** @internal */
  fail(error: AgentwireError): void {
    if (this.finished) return;
    this.error = error;
    this.agentState = undefined;
    this.rejectDone(error);
    this.emit("error", error);
    this.notify();
    this.onSettled?.();
  }

  private followAgent(event: RunEventPayload): void {
    const state = agentStateAfter(event, this.agentState);
    if (state === this.agentState) return;
    this.agentState = state;
    this.emit("agentState", state);
  }

  private settle(final: RunEventPayload): void {
    this.followAgent(final);
    this.final = final;
    this.resolveDone(final);
    this.notify();
    this.onSettled?.();
  }

  private notify(): void {
    for (const resolve of this.wake.splice(0)) resolve();
  }
}

/**
 * The final event a finished stored message stands for, or undefined while it still runs. Used when
 * the run's own final event cannot be received any more (it ended before a watch, or history was lost).
 */
export function finalEventOf(message: MessageView, threadId: string): RunEventPayload | undefined {
  const base = {
    message: message.content,
    timestamp: Date.now() / 1000,
    final_message: true,
    message_id: message.id,
    thread_id: threadId,
  };
  switch (message.status) {
    case "completed":
      return { ...base, type: "response", status: "completed", ...(message.usage ? { usage: message.usage } : {}) };
    case "cancelled":
      return { ...base, type: "response", status: "cancelled" };
    case "error":
    case "interrupted": {
      const error = message.error as { message?: unknown } | undefined;
      const text = typeof error?.message === "string" ? error.message : `the run ended ${message.status}`;
      return { ...base, type: "error", status: "error", message: text, error_details: message.error ?? { kind: message.status } };
    }
    default:
      return undefined;
  }
}
