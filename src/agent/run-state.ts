// What a run has produced so far, in the shape the messages table stores; updated only with steps
// already published, so a checkpoint never reflects an event beyond the seq saved with it.

import type { SourceView, ToolCallView, UsageView } from "../protocol/index.ts";
import type { MessagePatch, MessageStatus } from "../storage/storage.ts";
import type { RunStep, ToolStatus } from "./run.ts";

export type StoredToolCall = ToolCallView & { status: ToolStatus };

export class RunState {
  content = "";
  reasoning = "";
  readonly toolCalls = new Map<string, StoredToolCall>();
  sources: SourceView[] = [];
  usage: UsageView | undefined;
  error: { message: string; details: Record<string, unknown> } | undefined;
  status: MessageStatus = "streaming";
  /** Seq and epoch of the last thread-channel event applied. */
  seq = 0;
  epoch = "";

  apply(step: RunStep, seq: number, epoch: string): void {
    this.seq = seq;
    this.epoch = epoch;
    switch (step.type) {
      case "reasoning":
        this.reasoning += step.delta;
        break;
      case "response":
        this.content += step.delta;
        break;
      case "tool":
        this.toolCalls.set(step.tool.call_id, { ...step.tool, status: step.status });
        this.status = [...this.toolCalls.values()].some((call) => call.status === "awaiting_approval") ? "awaiting_approval" : "streaming";
        break;
      case "sources":
        this.sources = [...this.sources, ...step.sources];
        break;
      case "final":
        this.finish(step);
        break;
    }
  }

  /** The outcome of the run, applied before its final event is published. */
  finish(step: Extract<RunStep, { type: "final" }>): void {
    this.content = step.text;
    this.usage = step.usage;
    this.status = step.outcome;
    if (step.outcome === "error") this.error = { message: step.message, details: step.details };
  }

  patch(): MessagePatch {
    return {
      content: this.content,
      status: this.status,
      reasoning: this.reasoning || null,
      toolCalls: this.toolCalls.size > 0 ? [...this.toolCalls.values()] : null,
      sources: this.sources.length > 0 ? this.sources : null,
      usage: this.usage ?? null,
      error: this.error ?? null,
    };
  }
}
