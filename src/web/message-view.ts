// One chat message on the page: a plain model built from the stored message and the run's events,
// and its DOM. Every piece of model output goes in as textContent, never as HTML.

import type { MessageView, RunEventPayload, SourceView, ToolCallView } from "../client/index.ts";

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
    error: typeof error?.message === "string" ? error.message : undefined,
  };
}

export function emptyAssistant(id: string): MessageModel {
  return { id, role: "assistant", status: "streaming", text: "", reasoning: "", tools: new Map(), sources: [], error: undefined };
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
      }
      return;
    case "error":
      model.status = "error";
      model.error = event.message;
      return;
  }
}

export interface ToolActions {
  approve(callId: string): void;
  reject(callId: string): void;
}

/** Builds (first call) or refreshes the message's list item. */
export function render(model: MessageModel, item: HTMLLIElement | undefined, actions: ToolActions | undefined): HTMLLIElement {
  const li = item ?? document.createElement("li");
  li.className = `message ${model.role}`;
  li.dataset.messageId = model.id;
  li.dataset.status = model.status;
  li.replaceChildren();
  if (model.reasoning) {
    const details = append(li, "details", "reasoning");
    // Keep the reader's choice to open it across refreshes.
    if (item?.querySelector("details.reasoning")?.hasAttribute("open")) details.open = true;
    append(details, "summary").textContent = "Reasoning";
    append(details, "div", "text").textContent = model.reasoning;
  }
  for (const tool of model.tools.values()) renderTool(append(li, "div", "tool"), tool, actions);
  const text = append(li, "div", "text");
  text.textContent = model.text;
  if (model.sources.length > 0) {
    const list = append(li, "ol", "sources");
    list.setAttribute("aria-label", "Sources");
    for (const source of model.sources) renderSource(append(list, "li"), source);
  }
  const label = model.error ?? STATUS_LABELS[model.status] ?? model.status;
  if (label) append(li, "div", "status").textContent = label;
  return li;
}

function renderTool(card: HTMLElement, tool: ToolState, actions: ToolActions | undefined): void {
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
    const approve = append(row, "button");
    approve.type = "button";
    approve.textContent = "Approve";
    approve.addEventListener("click", () => actions.approve(tool.call_id));
    const reject = append(row, "button");
    reject.type = "button";
    reject.textContent = "Reject";
    reject.addEventListener("click", () => actions.reject(tool.call_id));
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

function append<K extends keyof HTMLElementTagNameMap>(parent: HTMLElement, tag: K, className?: string): HTMLElementTagNameMap[K] {
  const element = document.createElement(tag);
  if (className) element.className = className;
  parent.append(element);
  return element;
}
