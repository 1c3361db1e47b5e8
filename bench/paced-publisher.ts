// A publisher at a fixed rate over a few channels, with every publication acked, so its real throughput can be read per time window.

import { percentile } from "./stats.ts";

export interface WindowStats {
  /** Acks received in the window, per second. */
  publishedPerSecond: number;
  /** Send to ack, of the publications sent in the window. */
  ackP50Ms: number;
  ackP99Ms: number;
  /** Publications the schedule wanted sent by the end of the window but that were not: the rate was not held. */
  behind: number;
}

// agentwire holds at most 1,024 frames of a connection while an earlier one is handled; stay well under.
const MAX_OUTSTANDING = 500;
const TICK_MS = 1;

export class PacedPublisher {
  private readonly sentAt: number[] = [];
  private readonly ackedAt: number[] = [];
  private sent = 0;
  private acked = 0;
  private startedAt = 0;
  private timer: Timer | undefined;
  private readonly body: string;
  readonly problems: string[] = [];

  constructor(
    private readonly socket: WebSocket,
    private readonly channels: string[],
    private readonly ratePerSecond: number,
    bodyBytes: number,
  ) {
    this.body = "x".repeat(bodyBytes);
    socket.onmessage = (event) => this.onFrame(event);
    socket.onclose = (event) => this.problem(`publisher closed with ${event.code} ${event.reason}`);
  }

  private problem(text: string): void {
    if (this.problems.length < 10) this.problems.push(text);
  }

  /** Message n goes to channel n mod C as that channel's message floor(n / C), which must get seq floor(n / C) + 1. */
  private onFrame(event: MessageEvent): void {
    const receivedAt = performance.now();
    const frame = JSON.parse(event.data as string) as { channel: string; id?: string; payload: { type?: string; seq?: number; code?: string; message?: string } };
    const n = frame.id?.startsWith("p") ? Number(frame.id.slice(1)) : Number.NaN;
    if (frame.channel !== "system" || frame.payload.type !== "published" || !Number.isInteger(n)) {
      this.problem(`publisher got ${frame.channel} ${frame.payload.code ?? frame.payload.type}: ${frame.payload.message ?? ""}`);
      return;
    }
    const expected = Math.floor(n / this.channels.length) + 1;
    if (frame.payload.seq !== expected) this.problem(`publication ${n} got seq ${frame.payload.seq}, expected ${expected}`);
    this.ackedAt[n] = receivedAt;
    this.acked++;
  }

  private due(now: number): number {
    return Math.floor(((now - this.startedAt) * this.ratePerSecond) / 1000);
  }

  private tick(): void {
    const now = performance.now();
    const due = this.due(now);
    while (this.sent < due && this.sent - this.acked < MAX_OUTSTANDING) {
      const n = this.sent++;
      const channelIndex = n % this.channels.length;
      this.sentAt[n] = performance.now();
      const payload = { n: Math.floor(n / this.channels.length), sent: this.sentAt[n], body: this.body };
      this.socket.send(JSON.stringify({ channel: this.channels[channelIndex], id: `p${n}`, payload }));
    }
  }

  start(): void {
    this.startedAt = performance.now();
    this.timer = setInterval(() => this.tick(), TICK_MS);
  }

  /** Stops sending and waits (bounded) for the acks still owed. */
  async stop(timeoutMs = 10_000): Promise<void> {
    clearInterval(this.timer);
    const deadline = performance.now() + timeoutMs;
    while (this.acked < this.sent && performance.now() < deadline) await Bun.sleep(10);
    if (this.acked < this.sent) this.problem(`${this.sent - this.acked} publications never acked`);
  }

  /** The seq of the last publication sent to channel `index`. */
  lastSeq(index: number): number {
    const count = this.channels.length;
    return this.sent <= index ? 0 : Math.floor((this.sent - 1 - index) / count) + 1;
  }

  statsBetween(from: number, to: number): WindowStats {
    let acks = 0;
    const latencies: number[] = [];
    for (let n = 0; n < this.sent; n++) {
      const ackedAt = this.ackedAt[n];
      if (ackedAt !== undefined && ackedAt >= from && ackedAt < to) acks++;
      const sentAt = this.sentAt[n]!;
      if (sentAt >= from && sentAt < to && ackedAt !== undefined) latencies.push(ackedAt - sentAt);
    }
    let sentByEnd = 0;
    for (let n = this.sent - 1; n >= 0; n--) {
      if (this.sentAt[n]! < to) {
        sentByEnd = n + 1;
        break;
      }
    }
    return {
      publishedPerSecond: (acks * 1000) / (to - from),
      ackP50Ms: percentile(latencies, 50),
      ackP99Ms: percentile(latencies, 99),
      behind: Math.max(0, this.due(to) - sentByEnd),
    };
  }
}
