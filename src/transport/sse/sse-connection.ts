// One Server-Sent Events stream as a gateway connection (docs/protocol.md section 10): one channel,
// written straight to the HTTP response through a direct stream, no per-chunk queue in between.

import type { Principal } from "../../auth/principal.ts";
import type { Publication } from "../../broker/broker.ts";
import type { Connection, KeepAlive } from "../../gateway/connection.ts";
import type { Gateway } from "../../gateway/gateway.ts";
import { CloseCode } from "../../protocol/index.ts";
import { SSE_PING, sseWire } from "./sse-wire.ts";

/** A comment line at least this often keeps proxies from closing a quiet stream. */
export const SSE_PING_MS = 15_000;

export interface SseOptions {
  /** End the stream after the first publication whose payload has `final_message: true`. */
  untilFinal: boolean;
  /** The streams' shared write batch. */
  batch: SseWriteBatch;
}

/**
 * Writes each stream's events of one turn of the event loop together: a write to a response is a
 * system call, and a burst of publications would otherwise cost one per event and reader (Bun's
 * WebSocket topics batch the same way). One per server, shared by its streams.
 */
export class SseWriteBatch {
  private waiting: SseConnection[] = [];
  private scheduled = false;
  // The readers of a channel get the same events in a turn, as the same strings: the bytes of the
  // last sequence encoded serve every reader whose sequence is that one.
  private lastTexts: readonly string[] | undefined;
  private lastBytes = new Uint8Array(0);
  private readonly encoder = new TextEncoder();

  /** The UTF-8 bytes of `texts` joined, shared with the previous call when it had the same strings. */
  encode(texts: readonly string[]): Uint8Array {
    const last = this.lastTexts;
    if (last !== undefined && last.length === texts.length) {
      let same = true;
      for (let index = 0; same && index < texts.length; index++) same = texts[index] === last[index];
      if (same) return this.lastBytes;
    }
    this.lastTexts = texts;
    this.lastBytes = this.encoder.encode(texts.length === 1 ? texts[0]! : texts.join(""));
    return this.lastBytes;
  }

  add(connection: SseConnection): void {
    this.waiting.push(connection);
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => this.flush());
  }

  private flush(): void {
    this.scheduled = false;
    const waiting = this.waiting;
    this.waiting = [];
    for (const connection of waiting) connection.flush();
    this.lastTexts = undefined;
  }
}

export class SseConnection implements Connection {
  readonly id = crypto.randomUUID();
  readonly wire = sseWire;
  readonly topics = undefined;
  readonly expiresAt: number;
  /** Released by the gateway: the client went, or the server ended the stream. */
  closed = false;
  slot = -1;
  /** The body of the HTTP response. */
  readonly stream: ReadableStream<Uint8Array>;
  // The response's sink, once Bun starts sending the body (the subscribe's replay is sent before the
  // response is returned, and waits in `pending` until then).
  private sink: ReadableStreamDirectController | undefined;
  // Texts sent and not yet written to the sink, in order: written once per turn of the event loop
  // (SseWriteBatch), as one write.
  private pending: string[] | undefined = undefined;
  private queued = false;
  // Bytes the client has not taken: those pending, and those written while the sink reported
  // backpressure, until it drains. The slow-reader check reads this number, nothing else.
  private backlog = 0;
  private draining = false;
  private channel: string | undefined;
  private lastPingAt = Date.now();
  // The body is finished: nothing more can be written (a stream ending at the final event is ended
  // a moment before it is released).
  private ended = false;
  private endCode: number | undefined;

  constructor(
    readonly principal: Principal,
    private readonly gateway: Gateway,
    private readonly options: SseOptions,
  ) {
    this.expiresAt = principal.exp === undefined ? Number.POSITIVE_INFINITY : principal.exp * 1000;
    const source: Bun.DirectUnderlyingSource<Uint8Array> = {
      type: "direct",
      // Called once, when Bun starts the response; returning without closing keeps the stream open.
      pull: (sink: ReadableStreamDirectController) => {
        this.sink = sink;
        // Ended before the response started: a slow reader is cut; any other end writes what it had.
        if (this.endCode === CloseCode.tryAgainLater) return void sink.close(new Error("slow consumer"));
        this.flush();
        if (this.ended) sink.end();
      },
      // The client went away: its stream is released, and nothing else (a run goes on).
      cancel: () => {
        this.ended = true;
        this.pending = undefined;
        this.dispose();
      },
    };
    // The DOM typings this project compiles with hide Bun's overload for direct sources.
    this.stream = new ReadableStream<Uint8Array>(source as unknown as UnderlyingDefaultSource<Uint8Array>);
  }

  send(text: string): void {
    if (this.ended) return;
    (this.pending ??= []).push(text);
    this.backlog += text.length;
    if (this.queued || !this.sink) return;
    this.queued = true;
    this.options.batch.add(this);
  }

  /** Writes what is pending to the response (called by the batch, and when the response starts or ends). */
  flush(): void {
    this.queued = false;
    const texts = this.pending;
    if (texts === undefined || !this.sink || this.endCode === CloseCode.tryAgainLater) return;
    this.pending = undefined;
    for (const text of texts) this.backlog -= text.length;
    this.write(this.options.batch.encode(texts));
  }

  private write(bytes: Uint8Array): void {
    const written = this.sink!.write(bytes);
    if (typeof written === "number") {
      // 0: the client is gone.
      if (written === 0 && bytes.length > 0) this.close(CloseCode.goingAway, "client went away");
      return;
    }
    // Accepted but buffered: counted until the sink drains, which settles this one promise.
    this.backlog += bytes.length;
    if (this.draining) return;
    this.draining = true;
    written.then(
      () => {
        this.draining = false;
        this.backlog = 0;
      },
      () => this.close(CloseCode.goingAway, "client went away"),
    );
  }

  deliver(publication: Publication, text: string): void {
    this.send(text);
    if (!this.options.untilFinal || this.ended || !isFinal(publication.payload)) return;
    this.close(CloseCode.normal, "final event");
  }

  /** Ends the stream: cleanly with what was written (shutdown, expiry, until=final), or cut at once (a slow reader). */
  close(code: number, _reason: string): void {
    this.end(code);
    this.dispose();
  }

  bufferedAmount(): number {
    return this.ended ? 0 : this.backlog;
  }

  keepAlive(now: number, { pingMs }: KeepAlive): void {
    if (now - this.lastPingAt < Math.min(pingMs, SSE_PING_MS)) return;
    this.lastPingAt = now;
    this.send(SSE_PING);
  }

  isSubscribed(channel: string): boolean {
    return this.channel === channel;
  }

  addChannel(channel: string): void {
    this.channel = channel;
  }

  removeChannel(channel: string): boolean {
    if (this.channel !== channel) return false;
    this.channel = undefined;
    return true;
  }

  channels(): string[] {
    return this.channel === undefined ? [] : [this.channel];
  }

  private end(code: number): void {
    if (this.ended) return;
    this.ended = true;
    this.endCode = code;
    if (!this.sink) return; // ended before the response started: pull() finishes it
    // A slow reader is cut, dropping what it has not taken; any other end writes what was sent first.
    if (code === CloseCode.tryAgainLater) {
      this.pending = undefined;
      this.sink.close(new Error("slow consumer"));
      return;
    }
    this.flush();
    this.sink.end();
  }

  private dispose(): void {
    if (this.closed) return;
    this.closed = true;
    this.gateway.release(this);
  }
}

/** Whether a payload is a run's last event; parsed only for streams that end there. */
function isFinal(payload: string): boolean {
  if (!payload.includes('"final_message"')) return false;
  try {
    return (JSON.parse(payload) as { final_message?: unknown }).final_message === true;
  } catch {
    return false;
  }
}
