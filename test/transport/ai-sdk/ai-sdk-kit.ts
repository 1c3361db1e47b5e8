// What the AI SDK transport tests share: the official `ai` package's DefaultChatTransport pointed at
// the server, its chunk stream read with readUIMessageStream, the raw bytes kept to check the wire, and
// the comparison of the rebuilt message with what GET /threads/:id/messages stores; and its
// WebSocketChatTransport over /ai-sdk/ws, with a plain socket for the frames it never sends itself.

import { expect } from "bun:test";
import { Value } from "@sinclair/typebox/value";
import {
  AbstractChat,
  DefaultChatTransport,
  getToolName,
  isToolUIPart,
  readUIMessageStream,
  WebSocketChatTransport,
  type ChatInit,
  type ChatState,
  type ChatStatus,
  type UIMessage,
  type UIMessageChunk,
} from "ai";
import { UiMessageChunk, type MessageView, type SourceView, type StoredToolCall } from "../../../src/protocol/index.ts";
import { parseSse } from "../../helpers/sse-client.ts";

export const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

/** A response the transport received, with its body as text once it ended. */
export interface RecordedResponse {
  url: string;
  status: number;
  headers: Headers;
  body: Promise<string>;
}

type ChatTransportOptions = NonNullable<ConstructorParameters<typeof DefaultChatTransport<UIMessage>>[0]>;

/** DefaultChatTransport as an app would build it (with the app's `options`), with a fetch that keeps a copy of every response body. */
export function chatTransport(baseUrl: string, token: string, options: Omit<ChatTransportOptions, "api" | "headers" | "fetch"> = {}) {
  const responses: RecordedResponse[] = [];
  const recordingFetch = async (input: RequestInfo | URL, init?: RequestInit) => {
    const response = await fetch(input, init);
    if (!response.body) {
      responses.push({ url: String(input), status: response.status, headers: response.headers, body: Promise.resolve("") });
      return response;
    }
    const [forTransport, forTest] = response.body.tee();
    // A copy cut by an abort still counts: what arrived until then.
    const body = new Response(forTest).text().catch(() => "");
    responses.push({ url: String(input), status: response.status, headers: response.headers, body });
    return new Response(forTransport, { status: response.status, statusText: response.statusText, headers: response.headers });
  };
  const transport = new DefaultChatTransport<UIMessage>({ ...options, api: `${baseUrl}/ai-sdk/chat`, headers: bearer(token), fetch: recordingFetch as typeof fetch });
  return { transport, responses };
}

/** The state a UI framework keeps for a chat, here plain fields, as the `ai` package's own tests keep it. */
class MemoryChatState implements ChatState<UIMessage> {
  status: ChatStatus = "ready";
  error: Error | undefined = undefined;
  messages: UIMessage[] = [];
  pushMessage = (message: UIMessage) => void (this.messages = [...this.messages, message]);
  popMessage = () => void (this.messages = this.messages.slice(0, -1));
  replaceMessage = (index: number, message: UIMessage) => void (this.messages = this.messages.with(index, message));
  snapshot = <T>(thing: T): T => structuredClone(thing);
}

/** The package's AbstractChat (what useChat wraps) over an in-memory state. */
export class TestChat extends AbstractChat<UIMessage> {
  constructor(init: Omit<ChatInit<UIMessage>, "messages">) {
    super({ ...init, state: new MemoryChatState() });
  }
}

export function userMessage(text: string): UIMessage {
  return { id: crypto.randomUUID(), role: "user", parts: [{ type: "text", text }] };
}

/** `sendMessages` as useChat calls it for a new user message. */
export function sendText(transport: DefaultChatTransport<UIMessage>, chatId: string, text: string, options: { abortSignal?: AbortSignal; body?: object } = {}) {
  return transport.sendMessages({
    trigger: "submit-message",
    chatId,
    messageId: undefined,
    messages: [userMessage(text)],
    abortSignal: options.abortSignal,
    body: options.body,
  });
}

/** A chunk stream being read: every chunk, the message readUIMessageStream rebuilds, and its errors. */
export interface FollowedStream {
  readonly chunks: UIMessageChunk[];
  /** The latest state of the rebuilt assistant message. */
  readonly message: UIMessage | undefined;
  /** What readUIMessageStream reported: `error` chunks, and chunks it could not apply. */
  readonly errors: Error[];
  /** Resolves once the stream ended (the server closed it, or the reader was cancelled). */
  readonly ended: Promise<void>;
}

export function follow(stream: ReadableStream<UIMessageChunk>): FollowedStream {
  const [forChunks, forMessage] = stream.tee();
  const chunks: UIMessageChunk[] = [];
  const errors: Error[] = [];
  let message: UIMessage | undefined;
  const reading = (async () => {
    for await (const chunk of forChunks) chunks.push(chunk);
  })();
  const rebuilding = (async () => {
    for await (const state of readUIMessageStream({ stream: forMessage, onError: (error) => errors.push(error as Error) })) message = state;
  })();
  return {
    chunks,
    errors,
    get message() {
      return message;
    },
    ended: Promise.all([reading, rebuilding]).then(() => {}),
  };
}

export const textOf = (message: UIMessage | undefined, type: "text" | "reasoning" = "text"): string =>
  (message?.parts ?? []).flatMap((part) => (part.type === type ? [part.text] : [])).join("");

/** Where a rebuilt tool part stands, in the statuses agentwire stores. */
const toolStatus: Record<string, StoredToolCall["status"]> = {
  "input-available": "processing",
  "approval-requested": "awaiting_approval",
  "approval-responded": "processing",
  "output-available": "done",
  "output-error": "failed",
  "output-denied": "rejected",
};

/** The rebuilt message's tool parts, as GET /threads/:id/messages shows tool calls. */
export function toolCallsOf(message: UIMessage): StoredToolCall[] {
  return message.parts.filter(isToolUIPart).map((part) => {
    const call: StoredToolCall = { call_id: part.toolCallId, name: getToolName(part), arguments: part.input, status: toolStatus[part.state]! };
    if (part.state === "output-available") call.result = part.output as string;
    if (part.state === "output-error") call.error = part.errorText;
    return call;
  });
}

export function sourcesOf(message: UIMessage): SourceView[] {
  return message.parts.flatMap((part): SourceView[] => {
    if (part.type !== "source-url" && part.type !== "source-document") return [];
    const snippet = part.providerMetadata?.agentwire?.snippet as string | undefined;
    return [
      {
        id: part.sourceId,
        title: part.title ?? "",
        ...(part.type === "source-url" ? { url: part.url } : {}),
        ...(snippet === undefined ? {} : { snippet }),
      },
    ];
  });
}

/** The rebuilt message holds the same text, reasoning, tool calls and sources as the stored one. */
export function expectSameAsStored(message: UIMessage | undefined, stored: MessageView): void {
  expect(message).toBeDefined();
  expect(message!.id).toBe(stored.id);
  expect(message!.role).toBe("assistant");
  expect(textOf(message)).toBe(stored.content);
  expect(textOf(message, "reasoning")).toBe(stored.reasoning ?? "");
  // A rejected call keeps its reason in storage; the AI SDK's denied part has no error text.
  const storedCalls = (stored.tool_calls ?? []).map((call) => (call.status === "rejected" ? { ...call, error: undefined } : call));
  expect(toolCallsOf(message!)).toEqual(storedCalls.map((call) => JSON.parse(JSON.stringify(call))));
  expect(sourcesOf(message!)).toEqual(stored.sources ?? []);
}

/** The thread's stored messages (GET /threads/:id/messages). */
export async function storedMessages(baseUrl: string, token: string, threadId: string): Promise<{ messages: MessageView[]; seq: number; epoch: string }> {
  const response = await fetch(`${baseUrl}/threads/${encodeURIComponent(threadId)}/messages`, { headers: bearer(token) });
  if (response.status !== 200) throw new Error(`GET messages: ${response.status} ${await response.text()}`);
  return (await response.json()) as { messages: MessageView[]; seq: number; epoch: string };
}

export async function storedMessage(baseUrl: string, token: string, threadId: string, messageId: string): Promise<MessageView> {
  const message = (await storedMessages(baseUrl, token, threadId)).messages.find((candidate) => candidate.id === messageId);
  if (!message) throw new Error(`no stored message ${messageId}`);
  return message;
}

/** The types of the chunks, for asserting their order. */
export const typesOf = (chunks: UIMessageChunk[]) => chunks.map((chunk) => chunk.type);

/**
 * A whole UI message stream as written: every chunk agentwire's schema allows, each with the
 * `<epoch>:<seq>` id of its run event, seqs never going back, and one `[DONE]` last.
 */
export function expectWellFormedStream(text: string): void {
  const items = parseSse(text);
  const events = items.filter((item) => item.kind === "event");
  expect(events.length).toBeGreaterThan(0);
  let lastSeq = -1;
  events.forEach((event, index) => {
    expect(event.unknownFields).toEqual([]);
    expect(event.event).toBeUndefined();
    if (event.data === "[DONE]") {
      expect(index).toBe(events.length - 1);
      return;
    }
    expect(event.id).toMatch(/^[A-Za-z0-9_-]+:\d+$/);
    const seq = Number(event.id!.slice(event.id!.lastIndexOf(":") + 1));
    expect(seq).toBeGreaterThanOrEqual(lastSeq);
    lastSeq = seq;
    // A block with only an id marks the stream's position and is not dispatched.
    if (event.data === undefined) return;
    const chunk = JSON.parse(event.data) as unknown;
    const errors = [...Value.Errors(UiMessageChunk, chunk)].map((error) => `${error.path}: ${error.message}`);
    expect(errors).toEqual([]);
  });
  expect(events.at(-1)).toMatchObject({ data: "[DONE]" });
  for (const item of items) if (item.kind === "comment") expect(item.text).toBe("ping");
}

// ---- the WebSocket transport (/ai-sdk/ws) ----

export type WsServerFrame = { type: string; requestId: string; sequence?: number; chunk?: UIMessageChunk; errorText?: string; code?: string };

type WebSocketOption = NonNullable<ConstructorParameters<typeof WebSocketChatTransport<UIMessage>>[0]["webSocket"]>;

/** The transport as an app builds it, with the sockets it opens kept, so that a test can cut one. */
export function wsTransport(baseUrl: string, token: string) {
  const sockets: WebSocket[] = [];
  class RecordingWebSocket extends WebSocket {
    constructor(url: string | URL, protocols?: string | string[]) {
      super(url, protocols);
      sockets.push(this);
    }
  }
  const transport = new WebSocketChatTransport<UIMessage>({
    url: `${baseUrl.replace(/^http/, "ws")}/ai-sdk/ws`,
    params: { token },
    // Bun's WebSocket, typed with the DOM's binary types the package's own type does not share.
    webSocket: RecordingWebSocket as unknown as WebSocketOption,
  });
  return { transport, sockets };
}

export function sendWsText(transport: WebSocketChatTransport<UIMessage>, chatId: string, text: string, abortSignal?: AbortSignal) {
  return transport.sendMessages({ trigger: "submit-message", chatId, messageId: undefined, messages: [userMessage(text)], abortSignal });
}

/** One request over a plain socket: its frames until `end`, `no-active` or `error`. */
export async function rawWsRequest(baseUrl: string, token: string, frame: Record<string, unknown> | string): Promise<WsServerFrame[]> {
  const socket = new WebSocket(`${baseUrl.replace(/^http/, "ws")}/ai-sdk/ws?token=${token}`);
  const frames: WsServerFrame[] = [];
  const done = new Promise<void>((resolve, reject) => {
    socket.onmessage = (event) => {
      const received = JSON.parse(String(event.data)) as WsServerFrame;
      frames.push(received);
      if (["end", "no-active", "error"].includes(received.type)) resolve();
    };
    socket.onerror = () => reject(new Error("socket error"));
    socket.onclose = () => resolve();
  });
  socket.onopen = () => socket.send(typeof frame === "string" ? frame : JSON.stringify(frame));
  await done;
  socket.close();
  return frames;
}

export async function rebuild(chunks: UIMessageChunk[]): Promise<UIMessage | undefined> {
  let message: UIMessage | undefined;
  const stream = new ReadableStream<UIMessageChunk>({
    start(controller) {
      for (const chunk of chunks) controller.enqueue(chunk);
      controller.close();
    },
  });
  for await (const state of readUIMessageStream({ stream })) message = state;
  return message;
}
