// Drives one run: turns its steps into thread-channel events (deltas coalesced over a few ms),
// publishes them in order, and checkpoints what was published into storage.

import type { Publication } from "../broker/broker.ts";
import type { Logger } from "../observability/log.ts";
import { threadChannel, type RunEventPayload } from "../protocol/index.ts";
import type { Storage } from "../storage/storage.ts";
import type { FinalStep, RunStep } from "./run.ts";
import { RunState } from "./run-state.ts";
import type { RunPresence } from "./run-presence.ts";

/** Publishes a run event on a thread channel; the agent is given one and knows no gateway. */
export type Publish = (channel: string, payload: string) => Promise<Publication>;

export interface RunDriverDeps {
  publish: Publish;
  storage: Storage;
  logger: Logger;
  coalesceMs: number;
  checkpointMs: number;
  /** Called once the final state is stored, before the final event goes out. */
  onFinalStored?(): void;
  /** The agent's presence on the thread, following each published event. */
  presence?: RunPresence;
}

type DeltaStep = Extract<RunStep, { type: "reasoning" | "response" }>;

function describe(step: Exclude<RunStep, DeltaStep>): Pick<RunEventPayload, "type" | "status" | "message"> {
  switch (step.type) {
    case "started":
      return { type: "status", status: "started", message: "Run started" };
    case "responding":
      return { type: "status", status: "responding", message: "Responding" };
    case "sources":
      return { type: "sources", status: "in_progress", message: `${step.sources.length} source${step.sources.length === 1 ? "" : "s"} found` };
    case "tool": {
      const name = step.tool.name;
      const message = {
        processing: `Running ${name}`,
        awaiting_approval: `Waiting for approval to run ${name}`,
        rejected: `${name} was not run: ${step.tool.error ?? "rejected"}`,
        done: `${name} finished`,
        failed: `${name} failed: ${step.tool.error ?? "error"}`,
      }[step.status];
      return { type: "tool", status: step.status, message };
    }
    case "final":
      if (step.outcome === "error") return { type: "error", status: "error", message: step.message };
      return { type: "response", status: step.outcome, message: step.text };
  }
}

export class RunDriver {
  readonly state = new RunState();
  private readonly channel: string;
  private published: Promise<void> = Promise.resolve();
  private written: Promise<void> = Promise.resolve();
  private pendingDelta: DeltaStep | undefined;
  private flushTimer: Timer | undefined;
  private checkpointTimer: Timer | undefined;

  constructor(
    private readonly threadId: string,
    private readonly messageId: string,
    private readonly deps: RunDriverDeps,
  ) {
    this.channel = threadChannel(threadId);
  }

  /** Publishes every step; resolves with the final step once it is published and stored. */
  async drive(steps: AsyncIterable<RunStep>): Promise<FinalStep> {
    let final: FinalStep | undefined;
    try {
      for await (const step of steps) {
        if (step.type === "reasoning" || step.type === "response") {
          this.bufferDelta(step);
          continue;
        }
        this.flushDelta();
        if (step.type === "final") {
          // Stored before it is announced: a client reacting to the final event (reading the thread,
          // sending again) must find the run finished on every node. The stored seq still names the
          // previous event, so a snapshot read in between replays the final event rather than missing it.
          await this.published;
          this.state.finish(step);
          await this.checkpoint();
          this.deps.onFinalStored?.();
        }
        this.enqueue(step);
        // Non-delta steps wait for their publication: ordering with tools, and backpressure on the broker.
        await this.published;
        if (step.type === "tool" && step.status === "awaiting_approval") await this.checkpoint();
        if (step.type === "final") final = step;
      }
      this.flushDelta();
      await this.published;
    } finally {
      clearTimeout(this.flushTimer);
      clearTimeout(this.checkpointTimer);
      // However the run ended, even with its final event unpublished, the agent is no longer there.
      this.deps.presence?.leave();
    }
    await this.checkpoint();
    if (!final) throw new Error("run ended without a final step");
    return final;
  }

  /** Writes the state as published so far; checkpoints run one at a time, in order. */
  checkpoint(): Promise<void> {
    clearTimeout(this.checkpointTimer);
    this.checkpointTimer = undefined;
    this.written = this.written.catch(() => {}).then(() => {
      if (this.state.epoch === "") return;
      return this.deps.storage.checkpoint({
        messageId: this.messageId,
        patch: this.state.patch(),
        threadId: this.threadId,
        eventSeq: this.state.seq,
        eventEpoch: this.state.epoch,
      });
    });
    return this.written;
  }

  private bufferDelta(step: DeltaStep): void {
    if (this.pendingDelta && this.pendingDelta.type !== step.type) this.flushDelta();
    this.pendingDelta = this.pendingDelta ? { type: step.type, delta: this.pendingDelta.delta + step.delta } : step;
    this.flushTimer ??= setTimeout(() => this.flushDelta(), this.deps.coalesceMs);
  }

  private flushDelta(): void {
    clearTimeout(this.flushTimer);
    this.flushTimer = undefined;
    const step = this.pendingDelta;
    if (!step) return;
    this.pendingDelta = undefined;
    this.enqueue(step);
  }

  private enqueue(step: RunStep): void {
    this.published = this.published.then(() => this.publish(step));
    // A failed publication is raised where drive() awaits the chain; this only keeps it from being reported unhandled.
    this.published.catch(() => {});
  }

  private async publish(step: RunStep): Promise<void> {
    const payload: RunEventPayload = {
      ...(step.type === "reasoning" || step.type === "response"
        ? { type: step.type, status: "in_progress" as const, message: step.delta }
        : describe(step)),
      timestamp: Date.now() / 1000,
      final_message: step.type === "final",
      message_id: this.messageId,
      thread_id: this.threadId,
    };
    if (step.type === "tool") payload.tool = step.tool;
    if (step.type === "sources") payload.sources = step.sources;
    if (step.type === "final") {
      if (step.usage) payload.usage = step.usage;
      if (step.outcome === "error") payload.error_details = step.details;
    }
    const publication = await this.deps.publish(this.channel, JSON.stringify(payload));
    this.state.apply(step, publication.seq, publication.epoch);
    this.deps.presence?.follow(payload);
    this.checkpointTimer ??= setTimeout(() => {
      this.checkpoint().catch((error) => this.deps.logger.warn("run checkpoint failed", { message_id: this.messageId, error }));
    }, this.deps.checkpointMs);
  }
}
