// The Vercel AI SDK's WebSocket chat transport (docs/protocol.md section 11.5): `WebSocketChatTransport`
// sends `send`, `resume` and `abort` frames over one socket and reads `start`, `chunk`, `end`, `error`
// and `no-active`. Each request is answered by the HTTP transport's own routes (POST /ai-sdk/chat,
// GET /ai-sdk/chat/:id/stream), handled in-process with the socket's token: the same body, rules,
// errors and chunks. A request's chunks are kept in a run log per thread, which outlives the socket,
// so that a `resume` with `lastSequence` on a new socket continues after that chunk exactly once.

import type { Server, ServerWebSocket } from "bun";
import type { AgentService } from "../../agent/agent-service.ts";
import type { Principal } from "../../auth/principal.ts";
import { bearerToken, type TokenService } from "../../auth/tokens.ts";
import { httpError } from "../../http/errors.ts";
import { ErrorCode, MAX_JSON_DEPTH, ProtocolError, UI_MESSAGE_STREAM_DONE, jsonDepthExceeds } from "../../protocol/index.ts";
import { queryToken } from "../websocket/ws-route.ts";

/** How long a finished request's chunks stay for a `resume` with `lastSequence` that comes late. */
const FINISHED_LOG_MS = 60_000;

type Chunk = Record<string, unknown>;
type Handle = (request: Request) => Promise<Response>;

/** The chunks of one UI message stream (an SSE response of the HTTP transport), in order, until `[DONE]`. */
async function* chunksOf(body: ReadableStream<Uint8Array>): AsyncGenerator<Chunk> {
  const decoder = new TextDecoder();
  let text = "";
  for await (const bytes of body) {
    text += decoder.decode(bytes, { stream: true });
    let end: number;
    while ((end = text.indexOf("\n\n")) >= 0) {
      const block = text.slice(0, end);
      text = text.slice(end + 2);
      for (const line of block.split("\n")) {
        if (!line.startsWith("data: ")) continue;
        const data = line.slice(6);
        if (data === UI_MESSAGE_STREAM_DONE) return;
        yield JSON.parse(data) as Chunk;
      }
    }
  }
}

/** The chunks of one request that streamed a thread's run, as they arrive, for any number of followers. */
class RunLog {
  readonly chunks: Chunk[] = [];
  done = false;
  private readonly listeners = new Set<() => void>();

  constructor(
    readonly owner: string,
    body: ReadableStream<Uint8Array>,
    onDone: () => void,
  ) {
    void (async () => {
      try {
        for await (const chunk of chunksOf(body)) {
          this.chunks.push(chunk);
          this.notify();
        }
      } catch {
        // A cut stream ends the log where it was cut.
      }
      this.done = true;
      this.notify();
      onDone();
    })();
  }

  /** The run's assistant message id, from its `start` chunk. */
  get messageId(): string | undefined {
    const start = this.chunks[0];
    return start?.type === "start" ? (start.messageId as string) : undefined;
  }

  /** Hands `chunk` every chunk from index `from`, then `end` once; returns what stops following. */
  follow(from: number, chunk: (chunk: Chunk, sequence: number) => void, end: () => void): () => void {
    let next = from;
    const pump = () => {
      while (next < this.chunks.length) chunk(this.chunks[next]!, next++);
      if (!this.done) return;
      this.listeners.delete(pump);
      end();
    };
    this.listeners.add(pump);
    pump();
    return () => void this.listeners.delete(pump);
  }

  private notify(): void {
    for (const listener of [...this.listeners]) listener();
  }
}

/** The run logs of a server, one per thread: that of the last request that streamed it. */
class RunLogs {
  private readonly logs = new Map<string, RunLog>();

  get(threadId: string, owner: string): RunLog | undefined {
    const log = this.logs.get(threadId);
    return log?.owner === owner ? log : undefined;
  }

  open(threadId: string, owner: string, body: ReadableStream<Uint8Array>): RunLog {
    const log: RunLog = new RunLog(owner, body, () => {
      setTimeout(() => {
        if (this.logs.get(threadId) === log) this.logs.delete(threadId);
      }, FINISHED_LOG_MS).unref();
    });
    this.logs.set(threadId, log);
    return log;
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

/** One socket of `/ai-sdk/ws`: its requests, each following a run log. Bun's socket events call its methods (ws-route.ts). */
export class AiSdkSocket {
  lastFrameAt = 0;
  private socket: ServerWebSocket<unknown> | undefined;
  private closed = false;
  private readonly requests = new Map<string, { threadId: string; log?: RunLog; unfollow?: () => void }>();

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
    for (const request of this.requests.values()) request.unfollow?.();
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
    const request = { threadId: frame.id };
    this.requests.set(requestId, request);
    const answering = frame.type === "send" ? this.sendMessages(requestId, frame) : this.resume(requestId, frame);
    answering.catch(() => this.fail(requestId, new ProtocolError(ErrorCode.internal, "the request failed")));
  }

  /** `send`: POST /ai-sdk/chat with the frame's chat request. */
  private async sendMessages(requestId: string, frame: Frame): Promise<void> {
    const chat = { ...(frame.body as object | undefined), id: frame.id, messages: frame.messages, trigger: frame.trigger, messageId: frame.messageId };
    const response = await this.call("/ai-sdk/chat", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(chat) });
    if (response.status !== 200) return this.failWith(requestId, response);
    this.stream(requestId, this.deps.logs.open(frame.id as string, this.principal.sub, response.body!), 0);
  }

  /** `resume`: the active run from its start, or after chunk `lastSequence` of the thread's last request. */
  private async resume(requestId: string, frame: Frame): Promise<void> {
    const threadId = frame.id as string;
    const last = frame.lastSequence;
    if (last !== undefined && !(Number.isSafeInteger(last) && (last as number) >= 0)) {
      return this.fail(requestId, new ProtocolError(ErrorCode.invalidMessage, "lastSequence must be a non-negative integer", ["/lastSequence"]));
    }
    const log = last === undefined ? undefined : this.deps.logs.get(threadId, this.principal.sub);
    if (log) return this.stream(requestId, log, (last as number) + 1);
    const response = await this.call(`/ai-sdk/chat/${encodeURIComponent(threadId)}/stream`, { method: "GET" });
    if (response.status === 204) return this.answer(requestId, "no-active");
    if (response.status !== 200) return this.failWith(requestId, response);
    if (last !== undefined) {
      // A run is active, but its chunks before lastSequence were not streamed from this node.
      await response.body?.cancel();
      return this.fail(requestId, new ProtocolError(ErrorCode.notFound, "this node has no chunks to continue after lastSequence; resume without it to replay the run"));
    }
    this.stream(requestId, this.deps.logs.open(threadId, this.principal.sub, response.body!), 0);
  }

  /** `abort`: the request's run is stopped (run control's stopThreadRun), and its chunks no longer sent. */
  private abort(requestId: string): void {
    const request = this.requests.get(requestId);
    if (!request) return;
    this.requests.delete(requestId);
    request.unfollow?.();
    const messageId = request.log?.messageId;
    this.deps.agent.control.stopThreadRun(this.principal.sub, request.threadId, messageId).catch(() => {});
  }

  private stream(requestId: string, log: RunLog, from: number): void {
    const request = this.requests.get(requestId);
    if (!request || this.closed) return;
    request.log = log;
    this.answer(requestId, "start");
    request.unfollow = log.follow(
      from,
      (chunk, sequence) => this.write({ type: "chunk", requestId, sequence, chunk }),
      () => {
        this.requests.delete(requestId);
        this.answer(requestId, "end");
      },
    );
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

export interface AiSdkWsDeps {
  tokens: TokenService;
  agent: AgentService;
  logs: RunLogs;
  /** The server's own HTTP handling, for the routes each request is answered by. */
  handle: Handle;
}

/** The `/ai-sdk/ws` upgrade, a route of Bun's router beside `/ws`: a token (query or header) is required. */
export function aiSdkWsUpgrade({ tokens, agent, handle }: Omit<AiSdkWsDeps, "logs">) {
  const deps: AiSdkWsDeps = { tokens, agent, handle, logs: new RunLogs() };
  return async (request: Request, server: Server<AiSdkSocket>): Promise<Response | undefined> => {
    const token = bearerToken(request.headers.get("authorization")) ?? queryToken(request.url);
    const principal = token === undefined ? undefined : await tokens.verify(token);
    if (token === undefined || !principal) return httpError(new ProtocolError(ErrorCode.unauthorized, "a valid token is required (?token= or Authorization)"));
    if (server.upgrade(request, { data: new AiSdkSocket(principal, token, deps) })) return undefined;
    return httpError(new ProtocolError(ErrorCode.invalidMessage, "GET /ai-sdk/ws expects a WebSocket upgrade"));
  };
}
