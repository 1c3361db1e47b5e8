// The chat page served at `/`: a thin layer over the SDK. The SDK reconnects, resumes and keeps each
// run's events exactly once; the page turns threads and run events into DOM.

import { AgentwireClient, type ClientState, type MessageView, type RunHandle } from "../client/index.ts";
import { confirmSwitch, replacesSilently, subjectOf } from "./linked-token.ts";
import { apply, emptyAssistant, modelOf, render, type MessageModel } from "./message-view.ts";

const TOKEN_KEY = "agentwire.token";
const ACTIVE = new Set(["streaming", "awaiting_approval"]);

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const connectionBadge = $<HTMLSpanElement>("connection");
const userBadge = $<HTMLSpanElement>("user");
const switchDialog = $<HTMLDialogElement>("switch-account");
const notice = $<HTMLParagraphElement>("notice");
const tokenForm = $<HTMLFormElement>("token-form");
const tokenInput = $<HTMLInputElement>("token");
const threadList = $<HTMLUListElement>("thread-list");
const newThreadButton = $<HTMLButtonElement>("new-thread");
const messageList = $<HTMLOListElement>("messages");
const composer = $<HTMLFormElement>("composer");
const messageInput = $<HTMLTextAreaElement>("message");
const stopButton = $<HTMLButtonElement>("stop");

interface View {
  model: MessageModel;
  item: HTMLLIElement;
  handle: RunHandle | undefined;
}

let client: AgentwireClient | undefined;
let threadId: string | undefined;
// Bumped whenever the conversation shown changes, so late answers for another thread are dropped.
let generation = 0;
let views = new Map<string, View>();
let running: RunHandle | undefined;

function hashParams(): URLSearchParams {
  return new URLSearchParams(location.hash.slice(1));
}

function setHash(params: URLSearchParams): void {
  const text = params.toString();
  history.replaceState(null, "", text ? `#${text}` : location.pathname + location.search);
}

function say(text: string): void {
  notice.textContent = text;
  notice.hidden = text === "";
}

function showState(state: ClientState): void {
  connectionBadge.dataset.state = state;
  connectionBadge.textContent = state;
}

function start(token: string): void {
  client?.close();
  // Which account this page acts as, always in view.
  const user = subjectOf(token);
  userBadge.textContent = user === undefined ? "" : `Signed in as ${user}`;
  userBadge.hidden = user === undefined;
  const protocol = location.protocol === "https:" ? "wss:" : "ws:";
  const next = new AgentwireClient({ url: `${protocol}//${location.host}/ws`, token });
  client = next;
  next.on("state", ({ state }) => showState(state));
  next.on("error", (error) => {
    if (error.code === "token_refused") {
      say("The server refused this token. Paste a new one above (the server log prints a dev token at start-up).");
      tokenInput.focus();
    }
  });
  let first = true;
  next.on("connected", () => {
    if (!first) return;
    first = false;
    say("");
    void refreshThreads();
    if (threadId) void openThread(threadId);
  });
  next.connect();
}

async function refreshThreads(): Promise<void> {
  if (!client) return;
  try {
    const threads = await client.threads.list();
    threadList.replaceChildren(
      ...threads.map((thread) => {
        const item = document.createElement("li");
        const button = document.createElement("button");
        button.type = "button";
        button.textContent = thread.title || "Untitled";
        button.dataset.threadId = thread.id;
        if (thread.id === threadId) button.setAttribute("aria-current", "true");
        button.addEventListener("click", () => void openThread(thread.id));
        item.append(button);
        return item;
      }),
    );
  } catch (error) {
    say(`Could not load threads: ${(error as Error).message}`);
  }
}

function markCurrentThread(): void {
  for (const button of threadList.querySelectorAll<HTMLButtonElement>("button[data-thread-id]")) {
    if (button.dataset.threadId === threadId) button.setAttribute("aria-current", "true");
    else button.removeAttribute("aria-current");
  }
}

function selectThread(id: string | undefined): void {
  threadId = id;
  generation++;
  views = new Map();
  running = undefined;
  stopButton.hidden = true;
  messageList.replaceChildren();
  const params = hashParams();
  if (id) params.set("thread", id);
  else params.delete("thread");
  setHash(params);
  markCurrentThread();
}

async function openThread(id: string): Promise<void> {
  if (!client) return;
  selectThread(id);
  const mine = generation;
  try {
    const snapshot = await client.threads.messages(id);
    if (mine !== generation) return;
    for (const message of snapshot.messages) show(modelOf(message));
    // A run still going (this page was reloaded, or another tab started it): follow it from where the
    // stored text ends, so nothing is lost or doubled.
    const live = snapshot.messages.findLast((message: MessageView) => message.role === "assistant" && ACTIVE.has(message.status));
    if (live) follow(await client.chat.watch(id, live.id), mine);
  } catch (error) {
    if (mine === generation) say(`Could not open the thread: ${(error as Error).message}`);
  }
}

function show(model: MessageModel, handle?: RunHandle): View {
  const known = views.get(model.id);
  const view: View = { model, item: known?.item ?? document.createElement("li"), handle: handle ?? known?.handle };
  views.set(model.id, view);
  redraw(view);
  if (!known) messageList.append(view.item);
  messageList.scrollTop = messageList.scrollHeight;
  return view;
}

function redraw(view: View): void {
  const handle = view.handle;
  render(view.model, view.item, handle && {
    approve: (callId) => void handle.approve(callId).catch((error: Error) => say(`Approve failed: ${error.message}`)),
    reject: (callId) => void handle.reject(callId, "rejected in the chat page").catch((error: Error) => say(`Reject failed: ${error.message}`)),
  });
}

/** Renders a run as its events arrive; the handle holds the events that came before this call. */
function follow(handle: RunHandle, mine: number): void {
  const view = show(handle.snapshot ? modelOf(handle.snapshot) : emptyAssistant(handle.messageId), handle);
  const settle = () => {
    if (running === handle) {
      running = undefined;
      stopButton.hidden = true;
    }
  };
  const onEvent = (event: Parameters<typeof apply>[1]) => {
    if (mine !== generation) return;
    apply(view.model, event);
    redraw(view);
    messageList.scrollTop = messageList.scrollHeight;
    if (event.final_message) settle();
  };
  running = handle;
  stopButton.hidden = false;
  handle.on("reset", ({ message }) => {
    if (mine !== generation || !message) return;
    view.model = modelOf(message);
    redraw(view);
  });
  handle.on("error", (error) => {
    if (mine !== generation) return;
    say(`Lost the run: ${error.message}`);
    settle();
  });
  for (const event of handle.events) onEvent(event);
  handle.on("event", onEvent);
  if (handle.finished) settle();
}

async function send(): Promise<void> {
  const content = messageInput.value.trim();
  if (!client || !content) return;
  const mine = generation;
  const pending = show({ ...emptyAssistant(`pending-${Date.now()}`), role: "user", status: "completed", text: content });
  messageInput.value = "";
  say("");
  try {
    const handle = await client.chat.send(content, threadId ? { threadId } : {});
    if (mine !== generation) return;
    if (!threadId) {
      threadId = handle.threadId;
      const params = hashParams();
      params.set("thread", threadId);
      setHash(params);
      void refreshThreads();
    }
    follow(handle, mine);
  } catch (error) {
    // Nothing typed is lost: the text goes back into the box.
    pending.item.remove();
    views.delete(pending.model.id);
    if (!messageInput.value) messageInput.value = content;
    say(`Not sent: ${(error as Error).message}`);
  }
}

composer.addEventListener("submit", (event) => {
  event.preventDefault();
  void send();
});
messageInput.addEventListener("keydown", (event) => {
  if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
    event.preventDefault();
    void send();
  }
});
stopButton.addEventListener("click", () => {
  running?.stop().catch((error: Error) => say(`Stop failed: ${error.message}`));
});
newThreadButton.addEventListener("click", () => {
  selectThread(undefined);
  messageInput.focus();
});
tokenForm.addEventListener("submit", (event) => {
  event.preventDefault();
  const token = tokenInput.value.trim();
  if (!token) return;
  localStorage.setItem(TOKEN_KEY, token);
  threadList.replaceChildren();
  selectThread(undefined);
  start(token);
});

// A link followed while the page is open is taken like one that opens it.
addEventListener("hashchange", () => {
  if (hashParams().has("token")) location.reload();
});

/**
 * A token in the link (`/#token=...`) leaves the address bar at once, so a reload never takes it
 * again; it replaces a stored token of another user only if the user agrees.
 */
async function takeLinkedToken(params: URLSearchParams): Promise<void> {
  const linked = params.get("token");
  if (!linked) return;
  params.delete("token");
  setHash(params);
  const stored = localStorage.getItem(TOKEN_KEY);
  if (replacesSilently(stored, linked) || (await confirmSwitch(switchDialog, subjectOf(stored!), subjectOf(linked)))) {
    localStorage.setItem(TOKEN_KEY, linked);
    return;
  }
  // Kept the current account: the rest of the link (a thread) belongs to the other one.
  params.delete("thread");
  setHash(params);
}

showState("disconnected");
const params = hashParams();
await takeLinkedToken(params);
threadId = params.get("thread") ?? undefined;
const token = localStorage.getItem(TOKEN_KEY);
if (token) {
  tokenInput.value = token;
  start(token);
} else {
  say("Paste a token above to connect (the server log prints a dev token and a link to this page at start-up).");
}
