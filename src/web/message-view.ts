// One chat message on the page: a plain model built from the stored message and the run's events,
// and its DOM. Model output is rendered as sanitised Markdown (markdown.ts); everything else goes in
// as textContent, never as HTML.

import type { MessageView, RunEventPayload, SourceView, ToolCallView, UsageView } from "../client/index.ts";
import { MarkdownStream } from "./markdown.ts";

export interface ToolState extends ToolCallView {
  status: string;
}

export interface MessageModel {
  id: string;
  role: "user" | "assistant";
  status: string;
  text: string;
  reasoning: string;
  tools: Map<string, ToolState>;
  sources: SourceView[];
  usage: UsageView | undefined;
  error: string | undefined;
}

const STATUS_LABELS: Record<string, string> = {
  streaming: "answering…",
  awaiting_approval: "waiting for your approval",
  completed: "",
  cancelled: "stopped",
  error: "failed",
  interrupted: "interrupted",
};

/** Statuses of an answer still being written. */
export const ACTIVE = new Set(["streaming", "awaiting_approval"]);

export function modelOf(message: MessageView): MessageModel {
  const tools = new Map<string, ToolState>();
  for (const call of message.tool_calls ?? []) tools.set(call.call_id, { ...call, status: call.status ?? "done" });
  const error = message.error as { message?: unknown } | undefined;
  return {
    id: message.id,
    role: message.role,
    status: message.status,
    text: message.content,
    reasoning: message.reasoning ?? "",
    tools,
    sources: [...(message.sources ?? [])],
    usage: message.usage,
    error: typeof error?.message === "string" ? error.message : undefined,
  };
}

export function emptyAssistant(id: string): MessageModel {
  return { id, role: "assistant", status: "streaming", text: "", reasoning: "", tools: new Map(), sources: [], usage: undefined, error: undefined };
}

/** Applies one run event (docs/protocol.md section 6.2) to the model. */
export function apply(model: MessageModel, event: RunEventPayload): void {
  switch (event.type) {
    case "status":
      model.status = "streaming";
      return;
    case "reasoning":
      model.reasoning += event.message;
      return;
    case "tool": {
      if (!event.tool) return;
      const previous = model.tools.get(event.tool.call_id);
      model.tools.set(event.tool.call_id, { ...previous, ...event.tool, status: event.status });
      model.status = [...model.tools.values()].some((tool) => tool.status === "awaiting_approval") ? "awaiting_approval" : "streaming";
      return;
    }
    case "sources":
      for (const source of event.sources ?? []) {
        if (!model.sources.some((known) => known.id === source.id)) model.sources.push(source);
      }
      return;
    case "response":
      if (event.status === "in_progress") model.text += event.message;
      else {
        model.text = event.message;
        model.status = event.status;
        if (event.usage) model.usage = event.usage;
      }
      return;
    case "error":
      model.status = "error";
      model.error = event.message;
      return;
  }
}

export interface MessageActions {
  approve(callId: string): void;
  reject(callId: string): void;
}

/**
 * A message's list item. Its parts are built once and updated in place, so a streaming answer costs
 * only its new blocks (MarkdownStream) and a button the reader is on keeps its focus.
 */
export class MessageItem {
  readonly item = document.createElement("li");
  private readonly reasoning = document.createElement("details");
  private readonly reasoningText = new MarkdownStream("text");
  private readonly tools = document.createElement("div");
  private readonly answer: MarkdownStream | HTMLDivElement;
  private readonly sources = document.createElement("ol");
  private readonly footer = document.createElement("div");
  private readonly status = document.createElement("span");
  private readonly usage = document.createElement("span");
  /** Where the page puts the message's own buttons (regenerate, retry). */
  readonly actions = document.createElement("div");
  private toolsDrawn = "";
  private sourcesDrawn = -1;

  constructor(readonly role: "user" | "assistant") {
    this.item.className = `message ${role}`;
    this.reasoning.className = "reasoning";
    const summary = document.createElement("summary");
    summary.textContent = "Reasoning";
    this.reasoning.append(summary, this.reasoningText.element);
    this.tools.className = "tools";
    this.sources.className = "sources";
    this.sources.setAttribute("aria-label", "Sources");
    this.footer.className = "footer";
    this.status.className = "status";
    this.usage.className = "usage";
    this.actions.className = "message-actions";
    this.footer.append(this.status, this.usage, this.actions);
    if (role === "user") {
      this.answer = document.createElement("div");
      this.answer.className = "text";
      this.item.append(this.answer);
      return;
    }
    this.answer = new MarkdownStream("text");
    // Read out politely once written: aria-busy holds the announcement while the answer streams.
    this.answer.element.setAttribute("aria-live", "polite");
    this.item.append(this.reasoning, this.tools, this.answer.element, this.sources, this.footer);
  }

  update(model: MessageModel, actions: MessageActions | undefined): void {
    const item = this.item;
    item.dataset.messageId = model.id;
    item.dataset.status = model.status;
    if (this.answer instanceof HTMLDivElement) {
      this.answer.textContent = model.text;
      return;
    }
    const active = ACTIVE.has(model.status);
    this.reasoning.hidden = model.reasoning === "";
    this.reasoningText.update(model.reasoning, !active);
    this.drawTools(model, actions);
    this.answer.update(model.text, !active);
    // Written only when changed: a write, even of the same value, would make the browser lay the message out again.
    if (this.answer.element.getAttribute("aria-busy") !== String(active)) this.answer.element.setAttribute("aria-busy", String(active));
    this.drawSources(model.sources);
    setText(this.status, model.error ?? STATUS_LABELS[model.status] ?? model.status);
    const usage = model.usage;
    setText(this.usage, usage ? `${usage.prompt_tokens} prompt · ${usage.completion_tokens} completion tokens` : "");
  }

  private drawTools(model: MessageModel, actions: MessageActions | undefined): void {
    // Redrawn only when a call changed, so an Approve button keeps its focus while text streams.
    const drawn = JSON.stringify([...model.tools.values()]) + String(actions !== undefined);
    if (drawn === this.toolsDrawn) return;
    this.toolsDrawn = drawn;
    this.tools.replaceChildren();
    for (const tool of model.tools.values()) renderTool(append(this.tools, "div", "tool"), tool, actions);
  }

  private drawSources(sources: SourceView[]): void {
    if (sources.length === this.sourcesDrawn) return;
    this.sourcesDrawn = sources.length;
    this.sources.hidden = sources.length === 0;
    this.sources.replaceChildren();
    for (const source of sources) renderSource(append(this.sources, "li"), source);
  }
}

function setText(element: HTMLElement, text: string): void {
  if (element.textContent !== text) element.textContent = text;
}

function renderTool(card: HTMLElement, tool: ToolState, actions: MessageActions | undefined): void {
  card.dataset.callId = tool.call_id;
  card.dataset.status = tool.status;
  const head = append(card, "div");
  append(head, "strong").textContent = tool.name;
  head.append(` · ${tool.status.replace("_", " ")}`);
  append(card, "code").textContent = typeof tool.arguments === "string" ? tool.arguments : JSON.stringify(tool.arguments);
  if (tool.result !== undefined) append(card, "div", "result").textContent = `→ ${tool.result}`;
  if (tool.error !== undefined) append(card, "div", "result error").textContent = `✗ ${tool.error}`;
  if (tool.status === "awaiting_approval" && actions) {
    const row = append(card, "div", "actions");
    button(row, "Approve", () => actions.approve(tool.call_id));
    button(row, "Reject", () => actions.reject(tool.call_id));
  }
}

function renderSource(item: HTMLElement, source: SourceView): void {
  // Only web links become anchors: a model-made `javascript:` URL stays text.
  const url = source.url && /^https?:\/\//i.test(source.url) ? source.url : undefined;
  if (url) {
    const link = append(item, "a");
    link.href = url;
    link.rel = "noopener noreferrer";
    link.target = "_blank";
    link.textContent = source.title;
  } else {
    append(item, "span").textContent = source.title;
  }
  if (source.snippet) append(item, "div", "snippet").textContent = source.snippet;
}

/** A button with a visible label (and, when the label alone would be ambiguous, a fuller name). */
export function button(parent: HTMLElement, label: string, onClick: () => void, name?: string): HTMLButtonElement {
  const element = append(parent, "button");
  element.type = "button";
  element.textContent = label;
  if (name) element.setAttribute("aria-label", name);
  element.addEventListener("click", onClick);
  return element;
}

function append<K extends keyof HTMLElementTagNameMap>(parent: HTMLElement, tag: K, className?: string): HTMLElementTagNameMap[K] {
  const element = document.createElement(tag);
  if (className) element.className = className;
  parent.append(element);
  return element;
}
