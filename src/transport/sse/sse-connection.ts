// One Server-Sent Events stream as a gateway connection (docs/protocol.md section 10): one channel,
// written to a ReadableStream whose queue is the stream's unsent bytes.

import type { Principal } from "../../auth/principal.ts";
import type { Publication } from "../../broker/broker.ts";
import type { Connection, KeepAlive } from "../../gateway/connection.ts";
import type { Gateway } from "../../gateway/gateway.ts";
import { CloseCode } from "../../protocol/index.ts";
import { SSE_PING, sseWire } from "./sse-wire.ts";

/** A comment line at least this often keeps proxies from closing a quiet stream. */
export const SSE_PING_MS = 15_000;

const encoder = new TextEncoder();
// deliverDirect hands the same text to every reader of a channel in a row: encode it once.
let lastText = "";
let lastBytes = new Uint8Array(0);
function encode(text: string): Uint8Array {
  if (text !== lastText) {
    lastBytes = encoder.encode(text);
    lastText = text;
  }
  return lastBytes;
}

export interface SseOptions {
  /** End the stream after the first publication whose payload has `final_message: true`. */
  untilFinal: boolean;
}

export class SseConnection implements Connection {
  readonly id = crypto.randomUUID();
  readonly wire = sseWire;
  readonly topics = undefined;
  readonly expiresAt: number;
  /** Released by the gateway: the client went, or the server ended the stream. */
  closed = false;
  /** The body of the HTTP response. */
  readonly stream: ReadableStream<Uint8Array>;
  private controller!: ReadableStreamDefaultController<Uint8Array>;
  private channel: string | undefined;
  private lastPingAt = Date.now();
  // The body is closed or errored: nothing more can be written (a stream ending at the final event is
  // ended a moment before it is released).
  private ended = false;

  constructor(
    readonly principal: Principal,
    private readonly gateway: Gateway,
    private readonly options: SseOptions,
  ) {
    this.expiresAt = principal.exp === undefined ? Number.POSITIVE_INFINITY : principal.exp * 1000;
    // Nothing is queued ahead of the reader (high-water mark 0), so the queue's size, counted in bytes,
    // is exactly what the client has not taken yet: a slow reader shows there.
    this.stream = new ReadableStream<Uint8Array>(
      {
        start: (controller) => {
          this.controller = controller;
        },
        // The client went away: its stream is released, and nothing else (a run goes on).
        cancel: () => {
          this.ended = true;
          this.dispose();
        },
      },
      { highWaterMark: 0, size: (chunk) => chunk?.byteLength ?? 0 },
    );
  }

  send(text: string): void {
    if (this.ended) return;
    this.controller.enqueue(encode(text));
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
    return this.ended ? 0 : -(this.controller.desiredSize ?? 0);
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
    if (code === CloseCode.tryAgainLater) this.controller.error(new Error("slow consumer"));
    else this.controller.close();
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
