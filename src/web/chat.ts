// The chat page served at `/`: a thin layer over the SDK. The SDK reconnects, resumes and keeps each
// run's events exactly once; the page turns threads and run events into DOM, and follows its user's
// notices (docs/protocol.md section 6.5) to show what other tabs, devices, APIs and members do. The open
// thread is followed with presence (section 14): who watches it, what the agent does, and what the
// user's role lets the page offer.

import {
  AgentwireClient,
  threadChannel,
  userNoticeChannel,
  type ApiError,
  type ClientState,
  type MessageView,
  type ResumePosition,
  type RunHandle,
  type ThreadRole,
  type ThreadView,
} from "../client/index.ts";
import { ask } from "./confirm-dialog.ts";
import { confirmSwitch, replacesSilently, subjectOf } from "./linked-token.ts";
import { handleCopyClicks } from "./markdown.ts";
import { ACTIVE, MessageItem, apply, button, emptyAssistant, modelOf, type MessageModel } from "./message-view.ts";
import { ShareDialog } from "./share-dialog.ts";
import { ThreadList, titleOf } from "./thread-list.ts";
import { ThreadPresence } from "./thread-presence.ts";

const TOKEN_KEY = "agentwire.token";
// Within this many pixels of the end, the conversation follows a streaming answer down.
const STICK_PX = 48;
// Times the page follows a thread again after the server ended its subscription (a role lowered), per thread opened.
const MAX_REFOLLOWS = 3;

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const connectionBadge = $<HTMLSpanElement>("connection");
const userBadge = $<HTMLSpanElement>("user");
const dialog = $<HTMLDialogElement>("confirm");
const notice = $<HTMLParagraphElement>("notice");
const tokenForm = $<HTMLFormElement>("token-form");
const tokenInput = $<HTMLInputElement>("token");
const newThreadButton = $<HTMLButtonElement>("new-thread");
const messageList = $<HTMLOListElement>("messages");
const composer = $<HTMLFormElement>("composer");
const messageInput = $<HTMLTextAreaElement>("message");
const stopButton = $<HTMLButtonElement>("stop");
const sendButton = $<HTMLButtonElement>("send");
const threadBar = $<HTMLDivElement>("thread-bar");
const roleBadge = $<HTMLSpanElement>("thread-role");
const shareButton = $<HTMLButtonElement>("share");
const ASK_PLACEHOLDER = messageInput.placeholder;

interface View {
  model: MessageModel;
  element: MessageItem;
  handle: RunHandle | undefined;
}

let client: AgentwireClient | undefined;
// The user the token names, shown as "you" among the watchers.
let self: string | undefined;
let threadId: string | undefined;
// The user's role on the open thread, from the thread list; undefined when not listed (the server refuses what it must).
let role: ThreadRole | undefined;
let presence: ThreadPresence | undefined;
let refollows = 0;
// Bumped whenever the conversation shown changes, so late answers for another thread are dropped.
let generation = 0;
let views = new Map<string, View>();
let running: RunHandle | undefined;
// The runs this page is starting (send, regenerate): a notice of one of them waits for it.
let starting: Promise<unknown> = Promise.resolve();
let stickToEnd = true;

const threads = new ThreadList($<HTMLUListElement>("thread-list"), {
  open: (id) => void openThread(id),
  rename: async (id, title) => {
    try {
      await client?.threads.rename(id, title);
      await refreshThreads();
    } catch (error) {
      say(`Could not rename: ${(error as Error).message}`);
    }
  },
  remove: (thread) => void removeThread(thread),
});
const share = new ShareDialog($<HTMLDialogElement>("share-dialog"), () => client?.threads);

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
  self = user;
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
  if (user !== undefined) {
    const catchUp = () => {
      void refreshThreads();
      if (threadId) void syncThread();
    };
    next.subscribe(userNoticeChannel(user), ({ payload }) => onNotice(payload), { onReset: catchUp });
  }
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

/**
 * A notice says that something of this user changed elsewhere. Anyone holding the user's token may
 * publish on that channel, so its content is only a hint of what to read again, over REST.
 */
function onNotice(payload: Record<string, unknown>): void {
  void refreshThreads();
  const shown = threadId;
  if (shown === undefined || payload.thread_id !== shown) return;
  const mine = generation;
  if (payload.type === "thread_deleted" || payload.type === "thread_unshared") {
    const text = payload.type === "thread_deleted" ? "That thread was deleted." : "That thread is no longer shared with you.";
    // Gone only if the server says so: the list holds the most recent threads, and the owner may share it again.
    client?.threads.messages(shown).catch((error: ApiError) => {
      if (error.status !== 404 || mine !== generation) return;
      selectThread(undefined);
      say(text);
    });
  } else if (payload.type === "run_started" && typeof payload.message_id === "string") {
    const messageId = payload.message_id;
    // A run this page started itself is followed once its start resolves.
    void starting.then(() => {
      if (mine === generation && !views.has(messageId)) void syncThread();
    });
  }
}

let listRead: Promise<void> | undefined;
let listQueued: Promise<void> | undefined;

/** Reads the thread list; a call while a read is going gets one more read after it, shared by every such call. */
function refreshThreads(): Promise<void> {
  if (listRead) {
    listQueued ??= listRead.then(() => {
      listQueued = undefined;
      return refreshThreads();
    });
    return listQueued;
  }
  listRead = loadThreads().finally(() => (listRead = undefined));
  return listRead;
}

async function loadThreads(): Promise<void> {
  if (!client) return;
  try {
    threads.show(await client.threads.list());
    const known = threadId === undefined ? undefined : threads.find(threadId)?.role;
    if (known !== role) applyRole(known);
  } catch (error) {
    say(`Could not load threads: ${(error as Error).message}`);
  }
}

async function removeThread(thread: ThreadView): Promise<void> {
  const text = `“${titleOf(thread)}” and all its messages will be deleted.`;
  if (!client || !(await ask(dialog, { title: "Delete thread?", text, confirm: "Delete", cancel: "Cancel", danger: true }))) return;
  try {
    await client.threads.delete(thread.id);
    if (threadId === thread.id) selectThread(undefined);
    await refreshThreads();
    newThreadButton.focus();
  } catch (error) {
    say(`Could not delete: ${(error as Error).message}`);
  }
}

function selectThread(id: string | undefined): void {
  threadId = id;
  generation++;
  views = new Map();
  running = undefined;
  stopButton.hidden = true;
  // Leaving the thread: the others see this page go.
  presence?.close();
  presence?.subscription.unsubscribe();
  presence = undefined;
  refollows = 0;
  threadBar.hidden = id === undefined;
  applyRole(id === undefined ? undefined : threads.find(id)?.role);
  messageList.replaceChildren();
  stickToEnd = true;
  const params = hashParams();
  if (id) params.set("thread", id);
  else params.delete("thread");
  setHash(params);
  threads.markCurrent(id);
}

/** What the user's role lets the page offer: a viewer reads; an editor also sends, stops, approves and answers again; the owner also shares. */
function applyRole(next: ThreadRole | undefined): void {
  role = next;
  const shared = role === "editor" || role === "viewer";
  roleBadge.hidden = !shared;
  roleBadge.textContent = shared ? `Shared with you as ${role}` : "";
  shareButton.hidden = threadId === undefined || shared;
  const reads = !mayAct();
  messageInput.disabled = reads;
  sendButton.disabled = reads;
  messageInput.placeholder = reads ? "Shared with you to read: only the owner and editors can write here." : ASK_PLACEHOLDER;
  stopButton.hidden = reads || running === undefined;
  for (const view of views.values()) redraw(view);
  drawActions();
}

/** Whether the user may send, stop, approve and answer again on the open thread. */
function mayAct(): boolean {
  return role !== "viewer";
}

/**
 * Follows the open thread's channel with presence from `position` (the snapshot the page shows), so the
 * runs the page watches on it miss nothing; the server ending it (a role lowered or taken away) is
 * checked over REST and, when the thread is still readable, followed again.
 */
function followThread(id: string, position?: ResumePosition): void {
  const channel = threadChannel(id);
  if (!client || presence?.subscription.channel === channel) return;
  const mine = generation;
  const onReset = () => {
    if (mine === generation) void syncThread();
  };
  const subscription = client.getSubscription(channel) ?? client.subscribe(channel, undefined, { ...position, presence: true, onReset });
  presence = new ThreadPresence(subscription, self, { watchers: $<HTMLUListElement>("watchers"), agent: $<HTMLElement>("agent-state") });
  subscription.on("unsubscribed", ({ reason }) => {
    if (mine !== generation || reason === "client" || reason === "client_closed") return;
    presence?.close();
    presence = undefined;
    if (refollows++ >= MAX_REFOLLOWS) {
      say("This page stopped following the thread: reopen it to see it live again.");
      return;
    }
    void refreshThreads().then(() => {
      if (mine === generation) return syncThread();
    });
  });
}

async function openThread(id: string): Promise<void> {
  if (!client) return;
  selectThread(id);
  await syncThread();
}

/**
 * Shows the thread as stored, keeping the messages whose run this page follows, and follows a run still
 * going (this page was reloaded, or another tab, device or API started it) from where the stored text ends.
 */
async function syncThread(): Promise<void> {
  const id = threadId;
  if (!client || !id) return;
  const mine = generation;
  try {
    const snapshot = await client.threads.messages(id);
    if (mine !== generation) return;
    followThread(id, { seq: snapshot.seq, epoch: snapshot.epoch });
    const next = new Map<string, View>();
    for (const message of snapshot.messages) {
      const known = views.get(message.id);
      const view = known?.handle ? known : newView(modelOf(message));
      next.set(message.id, view);
      if (view !== known) redraw(view);
    }
    views = next;
    messageList.replaceChildren(...[...next.values()].map((view) => view.element.item));
    drawActions();
    scrollToEnd();
    const last = snapshot.messages.findLast((message: MessageView) => message.role === "assistant");
    if (last && !ACTIVE.has(last.status)) presence?.runEnded(last.id);
    const live = snapshot.messages.findLast((message: MessageView) => message.role === "assistant" && ACTIVE.has(message.status));
    if (live && !views.get(live.id)?.handle) follow(await client.chat.watch(id, live.id), mine);
  } catch (error) {
    if (mine !== generation) return;
    if ((error as ApiError).status === 404) {
      selectThread(undefined);
      say("That thread is gone, or not shared with you.");
    } else say(`Could not open the thread: ${(error as Error).message}`);
  }
}

function newView(model: MessageModel, handle?: RunHandle): View {
  return { model, element: new MessageItem(model.role), handle };
}

function show(model: MessageModel, handle?: RunHandle): View {
  const known = views.get(model.id);
  const view = known ? Object.assign(known, { model, handle: handle ?? known.handle }) : newView(model, handle);
  views.set(model.id, view);
  redraw(view);
  if (!known) messageList.append(view.element.item);
  drawActions();
  scrollToEnd();
  return view;
}

function redraw(view: View): void {
  const handle = mayAct() ? view.handle : undefined;
  view.element.update(view.model, handle && {
    approve: (callId) => void handle.approve(callId).catch((error: Error) => say(`Approve failed: ${error.message}`)),
    reject: (callId) => void handle.reject(callId, "rejected in the chat page").catch((error: Error) => say(`Reject failed: ${error.message}`)),
  });
}

/** Regenerate (a finished answer) or Retry (a stopped or failed one) on the last answer, when no run goes. */
function drawActions(): void {
  const last = [...views.values()].at(-1);
  for (const view of views.values()) {
    if (view !== last) view.element.actions.replaceChildren();
  }
  if (!last || last.element.role !== "assistant") return;
  const idle = !ACTIVE.has(last.model.status) && running === undefined && mayAct();
  const label = last.model.status === "completed" ? "Regenerate" : "Retry";
  if (idle && last.element.actions.textContent === label) return;
  last.element.actions.replaceChildren();
  if (idle) button(last.element.actions, label, () => void starts(regenerate));
}

let scrollScheduled = false;

/**
 * Keeps the end of the conversation in view while the reader is there. Done at the start of the frame
 * after the change, before that frame's rendering changes the page again: the layout is then the one
 * the browser already made, and reading the height does not force another.
 */
function scrollToEnd(): void {
  if (!stickToEnd || scrollScheduled) return;
  scrollScheduled = true;
  requestAnimationFrame(() =>
    requestAnimationFrame(() => {
      scrollScheduled = false;
      messageList.scrollTop = messageList.scrollHeight;
    }),
  );
}

messageList.addEventListener("scroll", () => {
  stickToEnd = messageList.scrollHeight - messageList.scrollTop - messageList.clientHeight < STICK_PX;
});

/** Renders a run as its events arrive; the handle holds the events that came before this call. */
function follow(handle: RunHandle, mine: number): void {
  // The same run may be reached twice (its start, and a notice or a resync): it is drawn once.
  if (views.get(handle.messageId)?.handle === handle) return;
  const view = show(handle.snapshot ? modelOf(handle.snapshot) : emptyAssistant(handle.messageId), handle);
  const settle = () => {
    if (running === handle) {
      running = undefined;
      stopButton.hidden = true;
    }
    drawActions();
  };
  const onEvent = (event: Parameters<typeof apply>[1]) => {
    if (mine !== generation) return;
    apply(view.model, event);
    redraw(view);
    scrollToEnd();
    if (event.final_message) {
      presence?.runEnded(handle.messageId);
      settle();
    }
  };
  running = handle;
  stopButton.hidden = !mayAct();
  drawActions();
  handle.on("reset", ({ message }) => {
    if (mine !== generation || !message) return;
    view.model = modelOf(message);
    redraw(view);
  });
  handle.on("error", (error) => {
    if (mine !== generation) return;
    // The server ended the thread's subscription (a role lowered): following it again picks the run up.
    if (error.code !== "forbidden") say(`Lost the run: ${error.message}`);
    // The next read of the thread shows the message as stored and follows the run again if it still goes.
    if (view.handle === handle) view.handle = undefined;
    settle();
  });
  for (const event of handle.events) onEvent(event);
  handle.on("event", onEvent);
  if (handle.finished) settle();
}

/** Runs `work` (up to following the run) as a start of this page's own, which notices of runs wait for. */
function starts(work: () => Promise<void>): Promise<void> {
  const started = work();
  starting = Promise.allSettled([starting, started]);
  return started;
}

async function send(): Promise<void> {
  const content = messageInput.value.trim();
  if (!client || !content) return;
  const mine = generation;
  const pending = show({ ...emptyAssistant(`pending-${Date.now()}`), role: "user", status: "completed", text: content });
  messageInput.value = "";
  say("");
  try {
    let id = threadId;
    if (!id) {
      // Created first, so the page follows it with presence before its first run starts.
      id = (await client.threads.create()).id;
      if (mine !== generation) return;
      threadId = id;
      const params = hashParams();
      params.set("thread", id);
      setHash(params);
      threadBar.hidden = false;
      applyRole("owner");
      followThread(id);
      void refreshThreads().then(() => threads.markCurrent(threadId));
    }
    const handle = await client.chat.send(content, { threadId: id });
    if (mine !== generation) return;
    follow(handle, mine);
  } catch (error) {
    // Nothing typed is lost: the text goes back into the box.
    pending.element.item.remove();
    views.delete(pending.model.id);
    drawActions();
    if (!messageInput.value) messageInput.value = content;
    say(`Not sent: ${(error as Error).message}`);
  }
}

/** Answers the last question again; the answer it replaces is gone from the thread once the new run is stored. */
async function regenerate(): Promise<void> {
  const id = threadId;
  if (!client || !id) return;
  const mine = generation;
  say("");
  try {
    await client.threads.regenerate(id);
    // The stored thread now has the question and the new run: show that, and follow the run.
    if (mine === generation) await syncThread();
  } catch (error) {
    if (mine === generation) say(`Could not answer again: ${(error as Error).message}`);
  }
}

function stop(): void {
  running?.stop().catch((error: Error) => say(`Stop failed: ${error.message}`));
}

composer.addEventListener("submit", (event) => {
  event.preventDefault();
  void starts(send);
});
messageInput.addEventListener("keydown", (event) => {
  if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
    event.preventDefault();
    void starts(send);
  }
});
// Escape stops the answer being written, unless it closes a dialog or cancels a rename first.
addEventListener("keydown", (event: KeyboardEvent) => {
  if (event.key === "Escape" && running && mayAct() && !document.querySelector("dialog[open]")) stop();
});
stopButton.addEventListener("click", stop);
shareButton.addEventListener("click", () => {
  const thread = threadId === undefined ? undefined : threads.find(threadId);
  if (threadId) void share.open(threadId, thread ? titleOf(thread) : "this thread", shareButton);
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
  threads.show([]);
  selectThread(undefined);
  start(token);
});
handleCopyClicks(messageList);

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
  if (replacesSilently(stored, linked) || (await confirmSwitch(dialog, subjectOf(stored!), subjectOf(linked)))) {
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
