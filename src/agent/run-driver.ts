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

/** What the agent's presence reads of an event. */
type PresenceEvent = Pick<RunEventPayload, "type" | "status" | "final_message">;

const DELTA_EVENTS: Record<DeltaStep["type"], PresenceEvent> = {
  reasoning: { type: "reasoning", status: "in_progress", final_message: false },
  response: { type: "response", status: "in_progress", final_message: false },
};

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
  /** The end of every event's JSON: its message and thread ids. */
  private readonly idsJson: string;
  private publishing: Promise<void> = Promise.resolve();
  private written: Promise<void> = Promise.resolve();
  // The deltas waiting for their frame, as one string: no object per token.
  private pendingType: DeltaStep["type"] | undefined;
  private pendingText = "";
  private flushTimer: Timer | undefined;
  private readonly flushLater = () => this.flushDelta();
  private checkpointTimer: Timer | undefined;

  constructor(
    private readonly threadId: string,
    private readonly messageId: string,
    private readonly deps: RunDriverDeps,
  ) {
    this.channel = threadChannel(threadId);
    this.idsJson = `,"message_id":${JSON.stringify(messageId)},"thread_id":${JSON.stringify(threadId)}}`;
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
          await this.publishing;
          this.state.finish(step);
          await this.checkpoint();
          this.deps.onFinalStored?.();
        }
        this.enqueue(step);
        // Non-delta steps wait for their publication: ordering with tools, and backpressure on the broker.
        await this.publishing;
        if (step.type === "tool" && step.status === "awaiting_approval") await this.checkpoint();
        if (step.type === "final") final = step;
      }
      this.flushDelta();
      await this.publishing;
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
    if (this.pendingType !== undefined && this.pendingType !== step.type) this.flushDelta();
    this.pendingType = step.type;
    this.pendingText += step.delta;
    this.flushTimer ??= setTimeout(this.flushLater, this.deps.coalesceMs);
  }

  private flushDelta(): void {
    clearTimeout(this.flushTimer);
    this.flushTimer = undefined;
    const type = this.pendingType;
    if (type === undefined) return;
    const delta = this.pendingText;
    this.pendingType = undefined;
    this.pendingText = "";
    this.enqueue({ type, delta });
  }

  private enqueue(step: RunStep): void {
    this.publishing = this.publishing.then(() => this.publish(step));
    // A failed publication is raised where drive() awaits the chain; this only keeps it from being reported unhandled.
    this.publishing.catch(() => {});
  }

  private async publish(step: RunStep): Promise<void> {
    if (step.type === "reasoning" || step.type === "response") {
      // Deltas are nearly every event of a run: their JSON is written around the one string that varies,
      // in the same field order as the object below, rather than built and serialized as an object.
      const json = `{"type":"${step.type}","status":"in_progress","message":${JSON.stringify(step.delta)},"timestamp":${Date.now() / 1000},"final_message":false${this.idsJson}`;
      return this.published(step, DELTA_EVENTS[step.type], await this.deps.publish(this.channel, json));
    }
    const payload: RunEventPayload = {
      ...describe(step),
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
    this.published(step, payload, await this.deps.publish(this.channel, JSON.stringify(payload)));
  }

  private published(step: RunStep, event: PresenceEvent, publication: Publication): void {
    this.state.apply(step, publication.seq, publication.epoch);
    this.deps.presence?.follow(event);
    this.checkpointTimer ??= setTimeout(() => {
      this.checkpoint().catch((error) => this.deps.logger.warn("run checkpoint failed", { message_id: this.messageId, error }));
    }, this.deps.checkpointMs);
  }
}
