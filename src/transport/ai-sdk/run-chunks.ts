// One run's events (docs/protocol.md section 6.2) as UI message stream chunks (section 11), for one
// reader. The AI SDK's parts need what the events leave implicit: which text or reasoning part is open,
// which model round a delta belongs to, which tool calls were announced and which wait for approval.

import type { RunEventPayload, SourceView, StoredToolCall, ToolCallStatus, ToolCallView, UiMessageChunk } from "../../protocol/index.ts";
import type { Message } from "../../storage/storage.ts";

/** What the translation reads of a run event. */
export type RunEvent = Pick<RunEventPayload, "type" | "status" | "message" | "final_message" | "tool" | "sources">;

type PartKind = "text" | "reasoning";

export class RunChunks {
  /** The run's last event was translated: nothing follows but `[DONE]`. */
  finished = false;
  private started = false;
  // A tool call since the round's last delta: the next delta belongs to the model's next round (step).
  private toolsInStep = false;
  private open: { kind: PartKind; id: string } | undefined;
  private partCount = 0;
  private readonly announced: Set<string>;
  private readonly awaitingApproval = new Set<string>();

  /** `shown`: the calls the reader already has as tool parts (a stream that continues a message after an approval). */
  constructor(
    private readonly messageId: string,
    shown: Iterable<string> = [],
  ) {
    this.announced = new Set(shown);
  }

  /** The run waits for the reader's answer to an approval request it was sent. */
  get waitingForApproval(): boolean {
    return !this.finished && this.awaitingApproval.size > 0;
  }

  /**
   * Ends the chunks where the run waits for approval, as the AI SDK's own server does: the client
   * sends the answer with its next request, whose stream continues the message.
   */
  pause(): UiMessageChunk[] {
    const chunks: UiMessageChunk[] = [];
    this.finished = true;
    this.closePart(chunks);
    chunks.push({ type: "finish-step" }, { type: "finish", finishReason: "tool-calls" });
    return chunks;
  }

  /** The chunks of the run's next event; none after its final event. */
  next(event: RunEvent): UiMessageChunk[] {
    const chunks: UiMessageChunk[] = [];
    if (this.finished) return chunks;
    if (!this.started) {
      this.started = true;
      chunks.push({ type: "start", messageId: this.messageId }, { type: "start-step" });
    }
    if (event.final_message) {
      this.finish(event, chunks);
      return chunks;
    }
    switch (event.type) {
      case "reasoning":
        this.delta("reasoning", event.message, chunks);
        break;
      case "response":
        if (event.status === "in_progress") this.delta("text", event.message, chunks);
        break;
      case "tool":
        if (event.tool) this.tool(event.status as ToolCallStatus, event.tool, chunks);
        break;
      case "sources":
        for (const source of event.sources ?? []) chunks.push(sourceChunk(source));
        break;
      // `status` events (started, responding) have no part of their own.
    }
    return chunks;
  }

  private delta(kind: PartKind, delta: string, chunks: UiMessageChunk[]): void {
    if (this.toolsInStep) {
      this.closePart(chunks);
      chunks.push({ type: "finish-step" }, { type: "start-step" });
      this.toolsInStep = false;
    }
    if (this.open?.kind !== kind) {
      this.closePart(chunks);
      const id = `${kind}-${++this.partCount}`;
      this.open = { kind, id };
      chunks.push(kind === "text" ? { type: "text-start", id } : { type: "reasoning-start", id });
    }
    const id = this.open.id;
    chunks.push(kind === "text" ? { type: "text-delta", id, delta } : { type: "reasoning-delta", id, delta });
  }

  private tool(status: ToolCallStatus, tool: ToolCallView, chunks: UiMessageChunk[]): void {
    // The model's text of this round is over once it calls tools.
    this.closePart(chunks);
    this.toolsInStep = true;
    const toolCallId = tool.call_id;
    if (!this.announced.has(toolCallId)) {
      this.announced.add(toolCallId);
      chunks.push({ type: "tool-input-available", toolCallId, toolName: tool.name, input: tool.arguments });
    }
    const answered = this.awaitingApproval.delete(toolCallId);
    switch (status) {
      case "awaiting_approval":
        this.awaitingApproval.add(toolCallId);
        chunks.push({ type: "tool-approval-request", approvalId: toolCallId, toolCallId });
        break;
      case "processing":
        if (answered) chunks.push({ type: "tool-approval-response", approvalId: toolCallId, approved: true });
        break;
      case "rejected":
        if (answered) chunks.push({ type: "tool-approval-response", approvalId: toolCallId, approved: false, ...(tool.error ? { reason: tool.error } : {}) });
        chunks.push({ type: "tool-output-denied", toolCallId });
        break;
      case "done":
        chunks.push({ type: "tool-output-available", toolCallId, output: tool.result ?? null });
        break;
      case "failed":
        chunks.push({ type: "tool-output-error", toolCallId, errorText: tool.error ?? "the tool failed" });
        break;
    }
  }

  private finish(event: RunEvent, chunks: UiMessageChunk[]): void {
    this.finished = true;
    this.closePart(chunks);
    chunks.push({ type: "finish-step" });
    if (event.type === "error") chunks.push({ type: "error", errorText: event.message });
    else if (event.status === "cancelled") chunks.push({ type: "abort", reason: "stopped" });
    else chunks.push({ type: "finish", finishReason: "stop" });
  }

  private closePart(chunks: UiMessageChunk[]): void {
    const open = this.open;
    if (!open) return;
    this.open = undefined;
    chunks.push(open.kind === "text" ? { type: "text-end", id: open.id } : { type: "reasoning-end", id: open.id });
  }
}

/** A source with a URL is a `source-url`; one without (a stored message) a plain-text `source-document`. */
function sourceChunk(source: SourceView): UiMessageChunk {
  const providerMetadata = source.snippet === undefined ? {} : { providerMetadata: { agentwire: { snippet: source.snippet } } };
  if (source.url !== undefined) return { type: "source-url", sourceId: source.id, url: source.url, title: source.title, ...providerMetadata };
  return { type: "source-document", sourceId: source.id, mediaType: "text/plain", title: source.title, ...providerMetadata };
}

const event = (type: RunEvent["type"], status: RunEvent["status"], extra: Partial<RunEvent> = {}): RunEvent => ({
  type,
  status,
  message: "",
  final_message: false,
  ...extra,
});

/**
 * What a stored, unfinished run message holds, as the events that would rebuild it: where a stream
 * picked up mid-run starts, before the events after the stored position are replayed. Its order is
 * approximate (reasoning, tool calls, sources, then text); its parts are exactly those stored.
 */
export function storedRunEvents(message: Pick<Message, "content" | "reasoning" | "toolCalls" | "sources">): RunEvent[] {
  const events = [event("status", "started")];
  if (message.reasoning) events.push(event("reasoning", "in_progress", { message: message.reasoning }));
  // The JSON columns hold what the run's state stored, in these shapes.
  for (const { status, ...tool } of (message.toolCalls as StoredToolCall[] | null) ?? []) {
    // The event that comes before the stored one, so each chunk finds the part it updates.
    const before = status === "rejected" ? "awaiting_approval" : status === "done" || status === "failed" ? "processing" : undefined;
    if (before) events.push(event("tool", before, { tool }));
    events.push(event("tool", status, { tool }));
  }
  const sources = (message.sources as SourceView[] | null) ?? [];
  if (sources.length > 0) events.push(event("sources", "in_progress", { sources }));
  if (message.content) events.push(event("response", "in_progress", { message: message.content }));
  return events;
}
