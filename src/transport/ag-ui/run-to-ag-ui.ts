// One run's events (docs/protocol.md section 6.2) as AG-UI events (section 12), for one reader. AG-UI's
// messages need what the events leave implicit: which text or reasoning message is open, and which tool
// calls were announced. Deterministic: the same events give the same AG-UI events and ids, which is
// what lets a resumed stream (rebuilt from history) continue the one that was cut.

import { AG_UI_APPROVAL_REQUESTED, AG_UI_SOURCES, type AgUiEvent, type RunEventPayload, type ToolCallStatus, type ToolCallView } from "../../protocol/index.ts";

/** What the translation reads of a run event. */
export type AgUiRunEvent = Pick<RunEventPayload, "type" | "status" | "message" | "final_message" | "tool" | "sources" | "usage" | "error_details">;

type PartKind = "text" | "reasoning";

/** The tool call's arguments as the JSON text AG-UI streams (raw text stays as it came). */
const argumentsText = (value: unknown): string => (typeof value === "string" ? value : JSON.stringify(value ?? {}));

export class RunToAgUi {
  /** The run's last event was translated: the stream ends. */
  finished = false;
  /** The run's first event was translated (RUN_STARTED sent). */
  started = false;
  private open: { kind: PartKind; id: string } | undefined;
  private partCount = 0;
  private readonly announced = new Set<string>();

  /** `runId` is the agentwire assistant message id; `threadId` the agentwire thread. */
  constructor(
    private readonly threadId: string,
    private readonly runId: string,
  ) {}

  /** The AG-UI events of the run's next event; none after its final event. */
  next(event: AgUiRunEvent): AgUiEvent[] {
    const events: AgUiEvent[] = [];
    if (this.finished) return events;
    if (!this.started) {
      this.started = true;
      events.push({ type: "RUN_STARTED", threadId: this.threadId, runId: this.runId });
    }
    if (event.final_message) {
      this.finish(event, events);
      return events;
    }
    switch (event.type) {
      case "reasoning":
        this.delta("reasoning", event.message, events);
        break;
      case "response":
        if (event.status === "in_progress") this.delta("text", event.message, events);
        break;
      case "tool":
        if (event.tool) this.tool(event.status as ToolCallStatus, event.tool, events);
        break;
      case "sources":
        if (event.sources?.length) events.push({ type: "CUSTOM", name: AG_UI_SOURCES, value: { message_id: this.runId, sources: event.sources } });
        break;
      // `status` events (started, responding) have no AG-UI event of their own.
    }
    return events;
  }

  private delta(kind: PartKind, delta: string, events: AgUiEvent[]): void {
    if (delta.length === 0) return;
    if (this.open?.kind !== kind) {
      this.closePart(events);
      const id = `${this.runId}-${kind}-${++this.partCount}`;
      this.open = { kind, id };
      if (kind === "text") events.push({ type: "TEXT_MESSAGE_START", messageId: id, role: "assistant" });
      else events.push({ type: "REASONING_START", messageId: id }, { type: "REASONING_MESSAGE_START", messageId: id, role: "reasoning" });
    }
    const messageId = this.open.id;
    events.push(kind === "text" ? { type: "TEXT_MESSAGE_CONTENT", messageId, delta } : { type: "REASONING_MESSAGE_CONTENT", messageId, delta });
  }

  private tool(status: ToolCallStatus, tool: ToolCallView, events: AgUiEvent[]): void {
    // The model's text of this round is over once it calls tools.
    this.closePart(events);
    const toolCallId = tool.call_id;
    if (!this.announced.has(toolCallId)) {
      this.announced.add(toolCallId);
      events.push({ type: "TOOL_CALL_START", toolCallId, toolCallName: tool.name });
      const args = argumentsText(tool.arguments);
      if (args.length > 0) events.push({ type: "TOOL_CALL_ARGS", toolCallId, delta: args });
      events.push({ type: "TOOL_CALL_END", toolCallId });
    }
    const result = (content: string): AgUiEvent => ({ type: "TOOL_CALL_RESULT", messageId: `${this.runId}-result-${toolCallId}`, toolCallId, content, role: "tool" });
    switch (status) {
      case "awaiting_approval":
        events.push({
          type: "CUSTOM",
          name: AG_UI_APPROVAL_REQUESTED,
          value: { message_id: this.runId, call_id: toolCallId, name: tool.name, arguments: tool.arguments },
        });
        break;
      case "done":
        events.push(result(tool.result ?? ""));
        break;
      case "failed":
        events.push(result(tool.error ?? "the tool failed"));
        break;
      case "rejected":
        events.push(result(tool.error ?? "the tool call was rejected"));
        break;
      // `processing` (also after an approval) adds nothing to the announced call.
    }
  }

  private finish(event: AgUiRunEvent, events: AgUiEvent[]): void {
    this.finished = true;
    this.closePart(events);
    if (event.type === "error") {
      const kind = (event.error_details as { kind?: unknown } | undefined)?.kind;
      events.push({ type: "RUN_ERROR", message: event.message, code: typeof kind === "string" ? kind : "error" });
      return;
    }
    const { threadId, runId } = this;
    if (event.status === "cancelled") return void events.push({ type: "RUN_FINISHED", threadId, runId, outcome: { type: "cancelled" } });
    const usage = event.usage
      ? [{ inputTokens: event.usage.prompt_tokens, outputTokens: event.usage.completion_tokens, totalTokens: event.usage.prompt_tokens + event.usage.completion_tokens }]
      : undefined;
    events.push({ type: "RUN_FINISHED", threadId, runId, outcome: { type: "success" }, ...(usage ? { usage } : {}) });
  }

  private closePart(events: AgUiEvent[]): void {
    const open = this.open;
    if (!open) return;
    this.open = undefined;
    if (open.kind === "text") events.push({ type: "TEXT_MESSAGE_END", messageId: open.id });
    else events.push({ type: "REASONING_MESSAGE_END", messageId: open.id }, { type: "REASONING_END", messageId: open.id });
  }
}
