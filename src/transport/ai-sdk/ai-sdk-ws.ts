// The Vercel AI SDK's WebSocket chat transport (docs/protocol.md section 11.5): `WebSocketChatTransport`
// sends `send`, `resume` and `abort` frames over one socket and reads `start`, `chunk`, `end`, `error`
// and `no-active`. Each request is answered by the HTTP transport's own routes (POST /ai-sdk/chat,
// GET /ai-sdk/chat/:id/stream), handled in-process with the socket's token: the same body, rules,
// errors and chunks. Where a request's stream began is kept in the broker, so that a `resume` with
// `lastSequence` on a new socket, on any node, writes the same chunks again and continues after that one.

import type { Server, ServerWebSocket } from "bun";
import type { AgentService } from "../../agent/agent-service.ts";
import type { Principal } from "../../auth/principal.ts";
import { bearerToken, type TokenService } from "../../auth/tokens.ts";
import type { Broker } from "../../broker/broker.ts";
import type { Storage } from "../../storage/storage.ts";
import { httpError } from "../../http/errors.ts";
import { ErrorCode, MAX_JSON_DEPTH, ProtocolError, UI_MESSAGE_STREAM_DONE, jsonDepthExceeds, type AiSdkChatRequest } from "../../protocol/index.ts";
import { eventPosition } from "../sse/sse-position.ts";
import { queryToken } from "../websocket/ws-route.ts";
import { shownCalls, unfinished, type StreamOrigin, type UiStreams } from "./ai-sdk-routes.ts";

type Chunk = Record<string, unknown>;
type Handle = (request: Request) => Promise<Response>;

/**
 * Where the origin of a thread's latest stream over this transport is kept: a channel of the broker,
 * so every node reads it, outside the channel-name pattern, so no client can subscribe or publish to it.
 */
const originChannel = (threadId: string) => `ai-sdk#${threadId}`;

/** A stream's origin as kept; `again` is false for one that cannot be written again (picked up from storage). */
type KeptOrigin = (StreamOrigin & { again: true }) | { messageId: string; again: false };

/** What one UI message stream (an SSE response of the HTTP transport) holds: its chunks until `[DONE]`, and its first position. */
async function* itemsOf(reader: ReadableStreamDefaultReader<Uint8Array>): AsyncGenerator<{ chunk: Chunk } | { position: string }> {
  const decoder = new TextDecoder();
  let text = "";
  for (let read = await reader.read(); !read.done; read = await reader.read()) {
    text += decoder.decode(read.value, { stream: true });
    let end: number;
    while ((end = text.indexOf("\n\n")) >= 0) {
      const block = text.slice(0, end);
      text = text.slice(end + 2);
      for (const line of block.split("\n")) {
        if (line.startsWith("id: ")) yield { position: line.slice(4) };
        if (!line.startsWith("data: ")) continue;
        const data = line.slice(6);
        if (data === UI_MESSAGE_STREAM_DONE) return;
        yield { chunk: JSON.parse(data) as Chunk };
      }
    }
  }
}

interface Frame {
  type?: unknown;
  requestId?: unknown;
  id?: unknown;
  lastSequence?: unknown;
  trigger?: unknown;
  messageId?: unknown;
  messages?: unknown;
  body?: unknown;
}

const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === "object" && value !== null && !Array.isArray(value);

/** A request going on: the thread it is for, its run's message once known, and what stops its stream. */
interface Going {
  threadId: string;
  messageId?: string;
  cancel?: () => void;
}

/** How a request's stream is forwarded: from which chunk on, and what is done with its origin. */
interface Forwarding {
  /** The first chunk sent; earlier ones were received before (`lastSequence + 1`). */
  from: number;
  /** For a stream written again from its origin: the run it must start with, and what is done when it does not. */
  expect?: { messageId: string; lost(): Promise<void> };
  /** Keeps the stream's origin once its `start` chunk names the run. */
  keep?(messageId: string, position: string | undefined): Promise<void>;
}

/** One socket of `/ai-sdk/ws`: its requests, each forwarding one UI message stream. Bun's socket events call its methods (ws-route.ts). */
export class AiSdkSocket {
  lastFrameAt = 0;
  private socket: ServerWebSocket<unknown> | undefined;
  private closed = false;
  private readonly requests = new Map<string, Going>();

  constructor(
    private readonly principal: Principal,
    private readonly token: string,
    private readonly deps: AiSdkWsDeps,
  ) {}

  start(socket: ServerWebSocket<unknown>): void {
    this.socket = socket;
    this.lastFrameAt = Date.now();
  }

  dispose(): void {
    this.closed = true;
    for (const request of this.requests.values()) request.cancel?.();
    this.requests.clear();
  }

  receive(raw: string | Uint8Array): void {
    this.lastFrameAt = Date.now();
    const text = typeof raw === "string" ? raw : new TextDecoder().decode(raw);
    // Bounded before it is parsed, as every other frame and body is (docs/protocol.md section 8.3).
    if (jsonDepthExceeds(text, MAX_JSON_DEPTH)) {
      return this.fail("", new ProtocolError(ErrorCode.invalidMessage, `the frame nests deeper than ${MAX_JSON_DEPTH} levels`));
    }
    let frame: Frame;
    try {
      frame = JSON.parse(text) as Frame;
    } catch {
      return this.fail("", new ProtocolError(ErrorCode.invalidJson, "the frame is not valid JSON"));
    }
    const requestId = isRecord(frame) && typeof frame.requestId === "string" ? frame.requestId : undefined;
    if (requestId === undefined) return this.fail("", new ProtocolError(ErrorCode.invalidMessage, "the frame has no requestId", ["/requestId"]));
    if (frame.type === "abort") return this.abort(requestId);
    if (frame.type !== "send" && frame.type !== "resume") return this.fail(requestId, new ProtocolError(ErrorCode.unsupportedFrame, "the frame's type is not send, resume or abort", ["/type"]));
    if (this.requests.has(requestId)) return this.fail(requestId, new ProtocolError(ErrorCode.conflict, `request ${requestId} is already going on`, ["/requestId"]));
    if (typeof frame.id !== "string") return this.fail(requestId, new ProtocolError(ErrorCode.invalidMessage, "the frame has no chat id", ["/id"]));
    if (frame.body !== undefined && !isRecord(frame.body)) return this.fail(requestId, new ProtocolError(ErrorCode.invalidMessage, "body must be an object", ["/body"]));
    this.requests.set(requestId, { threadId: frame.id });
    const answering = frame.type === "send" ? this.sendMessages(requestId, frame) : this.resume(requestId, frame);
    answering.catch((error) => this.fail(requestId, error instanceof ProtocolError ? error : new ProtocolError(ErrorCode.internal, "the request failed")));
  }

  /** `send`: POST /ai-sdk/chat with the frame's chat request; its stream's origin is kept for a later `resume`. */
  private async sendMessages(requestId: string, frame: Frame): Promise<void> {
    const threadId = frame.id as string;
    const chat = { ...(frame.body as object | undefined), id: threadId, messages: frame.messages, trigger: frame.trigger, messageId: frame.messageId };
    const response = await this.call("/ai-sdk/chat", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(chat) });
    if (response.status !== 200) return this.failWith(requestId, response);
    // The route accepted the request, so its messages have the chat request's shape.
    const shown = shownCalls(frame.messages as AiSdkChatRequest["messages"]);
    this.forward(requestId, response.body!, {
      from: 0,
      keep: (messageId, position) => this.keepOrigin(threadId, position === undefined ? { messageId, again: false } : { ...eventPosition(position, "id"), messageId, shown, again: true }),
    });
  }

  /**
   * `resume`: the thread's latest stream over this transport written again from its origin, on any
   * node: after chunk `lastSequence`, or from its start while its run is active. Without a kept origin
   * for the active run, the run from its start as GET /ai-sdk/chat/:id/stream gives it.
   */
  private async resume(requestId: string, frame: Frame): Promise<void> {
    const threadId = frame.id as string;
    const last = frame.lastSequence;
    if (last !== undefined && !(Number.isSafeInteger(last) && (last as number) >= 0)) {
      return this.fail(requestId, new ProtocolError(ErrorCode.invalidMessage, "lastSequence must be a non-negative integer", ["/lastSequence"]));
    }
    const accessCheckedAt = this.deps.streams.revocationMark();
    const kept = await this.keptOrigin(threadId);
    if (last !== undefined) {
      if (!kept) return this.answer(requestId, "no-active");
      const lost = async () => this.fail(requestId, cannotContinue("its events are no longer in history"));
      if (!kept.origin.again) return this.fail(requestId, cannotContinue("its stream was picked up from storage"));
      return this.again(requestId, threadId, kept.origin, accessCheckedAt, (last as number) + 1, lost);
    }
    const fromStorage = () => this.pickUp(requestId, threadId);
    if (kept?.origin.again && kept.active) return this.again(requestId, threadId, kept.origin, accessCheckedAt, 0, fromStorage);
    return fromStorage();
  }

  /** The active run from its start as GET /ai-sdk/chat/:id/stream gives it: what is stored, then its events. */
  private async pickUp(requestId: string, threadId: string): Promise<void> {
    const response = await this.call(`/ai-sdk/chat/${encodeURIComponent(threadId)}/stream`, { method: "GET" });
    if (response.status === 204) return this.answer(requestId, "no-active");
    if (response.status !== 200) return this.failWith(requestId, response);
    // Its first chunks are the stored message's, which another node would write otherwise.
    this.forward(requestId, response.body!, { from: 0, keep: (messageId) => this.keepOrigin(threadId, { messageId, again: false }) });
  }

  private async again(requestId: string, threadId: string, origin: StreamOrigin, accessCheckedAt: number, from: number, lost: () => Promise<void>): Promise<void> {
    const response = await this.deps.streams.again(this.principal, threadId, origin, accessCheckedAt);
    this.forward(requestId, response.body!, { from, expect: { messageId: origin.messageId, lost } });
  }

  /** `abort`: the request's run is stopped (run control's stopThreadRun), and its chunks no longer sent. */
  private abort(requestId: string): void {
    const request = this.requests.get(requestId);
    if (!request) return;
    this.requests.delete(requestId);
    request.cancel?.();
    this.deps.agent.control.stopThreadRun(this.principal.sub, request.threadId, request.messageId).catch(() => {});
  }

  /** Sends the stream's chunks from `from` on as `chunk` frames numbered from 0, between `start` and `end`. */
  private forward(requestId: string, body: ReadableStream<Uint8Array>, forwarding: Forwarding): void {
    const request = this.requests.get(requestId);
    if (!request || this.closed) return void body.cancel().catch(() => {});
    const reader = body.getReader();
    request.cancel = () => void reader.cancel().catch(() => {});
    void (async () => {
      let sequence = 0;
      let position: string | undefined;
      try {
        for await (const item of itemsOf(reader)) {
          if ("position" in item) {
            position ??= item.position;
            continue;
          }
          const { chunk } = item;
          if (sequence === 0) {
            const messageId = chunk.type === "start" ? (chunk.messageId as string) : undefined;
            if (forwarding.expect && messageId !== forwarding.expect.messageId) {
              request.cancel?.();
              return forwarding.expect.lost().catch(() => this.fail(requestId, new ProtocolError(ErrorCode.internal, "the request failed")));
            }
            request.messageId = messageId;
            // Kept before the first chunk goes out: a later resume with lastSequence must not continue
            // after a chunk of this stream with the chunks of an older one.
            if (messageId !== undefined && forwarding.keep && !(await forwarding.keep(messageId, position).then(() => true, () => false))) {
              request.cancel?.();
              return this.fail(requestId, new ProtocolError(ErrorCode.unavailable, "the stream's origin could not be kept; resume without lastSequence"));
            }
            if (this.requests.get(requestId) !== request) return;
            this.answer(requestId, "start");
          }
          if (sequence >= forwarding.from) this.write({ type: "chunk", requestId, sequence, chunk });
          sequence++;
        }
      } catch {
        // A cut stream ends the request where it was cut.
      }
      if (this.requests.get(requestId) !== request) return;
      if (sequence === 0) this.answer(requestId, "start");
      this.answer(requestId, "end");
    })();
  }

  /** Keeps the origin of the thread's latest stream, for a `resume` on any node. */
  private async keepOrigin(threadId: string, origin: KeptOrigin): Promise<void> {
    await this.deps.broker.publish(originChannel(threadId), JSON.stringify(origin));
  }

  /** The thread's latest kept origin, when the caller may read the thread (section 14), and whether its run is still going on. */
  private async keptOrigin(threadId: string): Promise<{ origin: KeptOrigin; active: boolean } | undefined> {
    const channel = originChannel(threadId);
    const state = await this.deps.broker.state(channel);
    if (state.seq === 0) return undefined;
    const { publications } = await this.deps.broker.recover(channel, state.seq - 1, state.epoch);
    const latest = publications?.at(-1);
    if (!latest) return undefined;
    const origin = JSON.parse(latest.payload) as KeptOrigin;
    const [message, role] = await Promise.all([this.deps.storage.getMessage(origin.messageId), this.deps.storage.threadRole(threadId, this.principal.sub)]);
    // A thread the caller may not read is as one with no stream: thread ids cannot be probed.
    if (!message || role === undefined || message.threadId !== threadId) return undefined;
    return { origin, active: unfinished(message) };
  }

  /** The route's own error, coded as over HTTP. */
  private async failWith(requestId: string, response: Response): Promise<void> {
    const body = (await response.json().catch(() => ({}))) as { code?: string; message?: string };
    const code = (body.code ?? ErrorCode.internal) as ErrorCode;
    this.fail(requestId, new ProtocolError(code, body.message ?? `status ${response.status}`));
  }

  private fail(requestId: string, error: ProtocolError): void {
    this.requests.delete(requestId);
    this.write({ type: "error", requestId, errorText: `${error.code}: ${error.message}`, code: error.code, ...(error.details ? { details: error.details } : {}) });
  }

  private answer(requestId: string, type: "start" | "end" | "no-active"): void {
    if (type !== "start") this.requests.delete(requestId);
    this.write({ type, requestId });
  }

  private write(frame: object): void {
    if (this.closed) return;
    this.socket?.send(JSON.stringify(frame));
  }

  private call(path: string, init: RequestInit): Promise<Response> {
    const headers = new Headers(init.headers);
    headers.set("authorization", `Bearer ${this.token}`);
    return this.deps.handle(new Request(`http://agentwire.internal${path}`, { ...init, headers }));
  }
}

const cannotContinue = (why: string) =>
  new ProtocolError(ErrorCode.notFound, `the run's chunks after lastSequence cannot be written again: ${why}; resume without lastSequence to replay the run`);

export interface AiSdkWsDeps {
  tokens: TokenService;
  agent: AgentService;
  broker: Broker;
  storage: Storage;
  streams: UiStreams;
  /** The server's own HTTP handling, for the routes each request is answered by. */
  handle: Handle;
}

/** The `/ai-sdk/ws` upgrade, a route of Bun's router beside `/ws`: a token (query or header) is required. */
export function aiSdkWsUpgrade(deps: AiSdkWsDeps) {
  const { tokens } = deps;
  return async (request: Request, server: Server<AiSdkSocket>): Promise<Response | undefined> => {
    const token = bearerToken(request.headers.get("authorization")) ?? queryToken(request.url);
    const principal = token === undefined ? undefined : await tokens.verify(token);
    if (token === undefined || !principal) return httpError(new ProtocolError(ErrorCode.unauthorized, "a valid token is required (?token= or Authorization)"));
    if (server.upgrade(request, { data: new AiSdkSocket(principal, token, deps) })) return undefined;
    return httpError(new ProtocolError(ErrorCode.invalidMessage, "GET /ai-sdk/ws expects a WebSocket upgrade"));
  };
}
