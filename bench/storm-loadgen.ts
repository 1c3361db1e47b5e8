// A load-generator process of the storm scenario: clients behind a TCP proxy of their own (so the bench
// can cut them all at once while the server keeps its history), each reconnecting with the SDK's
// full-jitter backoff and resuming its channel with since/epoch, checking every seq exactly once.

import { Backoff } from "../src/client/backoff.ts";
import { startTcpProxy, type TcpProxy } from "../test/helpers/tcp-proxy.ts";
import { signToken } from "./clients.ts";
import type { StormCommand, StormReport, StormStatus } from "./storm-messages.ts";

// The SDK's defaults (src/client/connection.ts): the n-th reconnect waits random(0, min(10 s, 250 ms * 2^n)).
const MIN_RECONNECT_MS = 250;
const MAX_RECONNECT_MS = 10_000;
/** A connection attempt that has not reached its subscription ack by then is given up and retried. */
const ATTEMPT_TIMEOUT_MS = 10_000;

const send = (report: StormReport) => process.send!(report);

interface Frame {
  channel: string;
  seq?: number;
  payload: { type?: string; status?: string; seq?: number; epoch?: string; recovered?: boolean; replayed?: number; n?: number; code?: string; message?: string };
}

const tokens: string[] = [];
const clients: StormClient[] = [];
let proxy: TcpProxy | undefined;
let cutAt = Number.NaN;
const stats = { gapsRepaired: 0, attempts: 0, failedAttempts: 0, received: 0, duplicates: 0, gaps: 0, notRecovered: 0, recoverMs: [] as number[] };
const problems: string[] = [];
/** Error frames apart from the other problems, so that a burst of them cannot hide a gap. */
const errors = { count: 0, first: [] as string[] };

function problem(text: string): void {
  if (problems.length < 10) problems.push(text);
}

class StormClient {
  lastSeq = 0;
  private epoch = "";
  private socket: WebSocket | undefined;
  /** Seq of the current subscription's ack: publications up to it are replays. */
  private ackSeq = 0;
  private live = false;
  private resyncing = false;
  recoveredSinceCut = false;
  private readonly backoff = new Backoff(MIN_RECONNECT_MS, MAX_RECONNECT_MS);
  private timer: Timer | undefined;
  /** Resolves the first subscription (the open command waits for it). */
  onFirstLive: (() => void) | undefined;

  constructor(
    readonly name: string,
    readonly channel: string,
    private readonly token: string,
    private readonly url: string,
  ) {}

  connect(): void {
    stats.attempts++;
    const socket = new WebSocket(`${this.url}?token=${this.token}`);
    this.socket = socket;
    this.live = false;
    this.resyncing = false;
    this.timer = setTimeout(() => {
      stats.failedAttempts++;
      this.drop(socket);
    }, ATTEMPT_TIMEOUT_MS);
    socket.onmessage = (event) => this.onFrame(socket, JSON.parse(event.data as string) as Frame);
    socket.onclose = () => {
      if (this.socket !== socket) return;
      if (!this.live) stats.failedAttempts++;
      this.drop(socket);
    };
  }

  /** The socket is gone (cut, refused, timed out): try again after the backoff's delay. */
  drop(socket: WebSocket): void {
    if (this.socket !== socket) return;
    clearTimeout(this.timer);
    socket.onmessage = socket.onclose = null;
    socket.close();
    this.socket = undefined;
    this.live = false;
    this.timer = setTimeout(() => this.connect(), this.backoff.next());
  }

  private onFrame(socket: WebSocket, frame: Frame): void {
    if (frame.channel === "system" && frame.payload.type === "connected") return socket.send(this.subscribeFrame());
    if (frame.channel === "subscription") return this.onAck(frame.payload);
    if (frame.channel !== this.channel) {
      if (frame.channel !== "error") return;
      if (errors.count++ < 3) errors.first.push(`${this.name}: error ${frame.payload.code}: ${frame.payload.message}`);
      // The subscribe failed (its error carries the subscribe's id): this attempt is over, the next resumes.
      if ((frame as { id?: string }).id === "s") this.drop(socket);
      return;
    }
    const seq = frame.seq!;
    // Waiting for the ack of a resubscribe: what the old subscription still delivers is left out.
    if (this.resyncing) return;
    if (seq > this.lastSeq + 1 && this.live) {
      // As the SDK does (docs/protocol.md section 4): a live subscription that skips ahead (the node's
      // broker link dropped) resubscribes from its last seq, and the replay fills the gap.
      stats.gapsRepaired++;
      this.resyncing = true;
      this.live = false;
      socket.send(this.subscribeFrame());
      return;
    }
    if (seq <= this.lastSeq) {
      stats.duplicates++;
      problem(`${this.name}: duplicate seq ${seq} after ${this.lastSeq} (ack ${this.ackSeq})`);
      return;
    }
    if (seq !== this.lastSeq + 1) {
      stats.gaps++;
      problem(`${this.name}: gap, seq ${seq} after ${this.lastSeq} (ack ${this.ackSeq})`);
    }
    // The publisher numbers each channel's messages from 0, and nobody else publishes there.
    if (frame.payload.n !== seq - 1) problem(`${this.name}: seq ${seq} carries message ${frame.payload.n}`);
    this.lastSeq = seq;
    stats.received++;
    if (!this.live && this.lastSeq >= this.ackSeq) this.becomeLive();
  }

  private subscribeFrame(): string {
    const resume = this.epoch === "" ? "" : `,"since":${this.lastSeq},"epoch":"${this.epoch}"`;
    return `{"channel":"subscription","id":"s","payload":{"action":"subscribe","channel":"${this.channel}"${resume}}}`;
  }

  private onAck(payload: Frame["payload"]): void {
    this.resyncing = false;
    if (payload.status !== "subscribed") return problem(`${this.name}: subscribe answered ${JSON.stringify(payload)}`);
    const seq = payload.seq!;
    this.ackSeq = seq;
    if (this.epoch === "") {
      this.epoch = payload.epoch!;
      this.lastSeq = seq;
    } else if (payload.recovered !== true || payload.epoch !== this.epoch) {
      stats.notRecovered++;
      problem(`${this.name}: not recovered from seq ${this.lastSeq} (channel at ${seq}, epoch ${payload.epoch})`);
      this.epoch = payload.epoch!;
      this.lastSeq = Math.max(this.lastSeq, seq);
    } else if (payload.replayed !== seq - this.lastSeq) {
      problem(`${this.name}: ack says ${payload.replayed} replayed, expected ${seq - this.lastSeq}`);
    }
    if (this.lastSeq >= seq) this.becomeLive();
  }

  private becomeLive(): void {
    this.live = true;
    clearTimeout(this.timer);
    this.backoff.reset();
    if (this.onFirstLive) {
      this.onFirstLive();
      this.onFirstLive = undefined;
      return;
    }
    // A resubscribe after a gap is not a recovery from the cut; the first live moment after it is.
    if (!Number.isNaN(cutAt) && !this.recoveredSinceCut) {
      this.recoveredSinceCut = true;
      stats.recoverMs.push(performance.now() - cutAt);
    }
  }
}

async function prepare(command: Extract<StormCommand, { type: "prepare" }>): Promise<void> {
  for (let index = command.first; index < command.first + command.count; index++) {
    tokens[index] = await signToken({ sub: `storm-${index}`, subscribe: ["storm-*"] });
  }
}

/** Opens the clients through this process's proxy, `inFlight` at a time, each until its first ack. */
async function open(command: Extract<StormCommand, { type: "open" }>): Promise<void> {
  const { ports } = command;
  proxy ??= startTcpProxy(() => ports[Math.floor(Math.random() * ports.length)]!);
  const url = `ws://127.0.0.1:${proxy.port}/ws`;
  let next = 0;
  const lane = async () => {
    while (next < command.count) {
      const index = command.first + next++;
      const token = tokens[index];
      if (token === undefined) throw new Error(`no token prepared for client ${index}`);
      const client = new StormClient(`client ${index}`, `storm-${index % command.channels}`, token, url);
      clients.push(client);
      await new Promise<void>((resolve) => {
        client.onFirstLive = resolve;
        client.connect();
      });
    }
  };
  await Promise.all(Array.from({ length: Math.min(command.inFlight, command.count) }, lane));
}

function status(): StormStatus {
  return {
    clients: clients.length,
    recovered: stats.recoverMs.length,
    recoverMs: [...stats.recoverMs].sort((a, b) => a - b),
    attempts: stats.attempts,
    failedAttempts: stats.failedAttempts,
    received: stats.received,
    duplicates: stats.duplicates,
    gaps: stats.gaps,
    notRecovered: stats.notRecovered,
    errors: errors.count,
    gapsRepaired: stats.gapsRepaired,
    problems: [...problems, ...errors.first],
  };
}

process.on("message", (message: StormCommand) => {
  const fail = (error: unknown) => send({ type: "failed", id: message.id, text: (error as Error).message });
  switch (message.type) {
    case "prepare":
      return void prepare(message).then(() => send({ type: "done", id: message.id }), fail);
    case "open":
      return void open(message).then(() => send({ type: "done", id: message.id }), fail);
    case "cut":
      stats.recoverMs = [];
      stats.attempts = 0;
      stats.failedAttempts = 0;
      cutAt = performance.now();
      for (const client of clients) client.recoveredSinceCut = false;
      proxy?.cut();
      return send({ type: "done", id: message.id });
    case "status":
      return send({ type: "status", id: message.id, ...status() });
    case "check": {
      const behind = clients.filter((client) => client.lastSeq !== message.lastSeqs[Number(client.channel.slice(6))]);
      const found = behind.slice(0, 5).map((client) => `${client.name} on ${client.channel}: at seq ${client.lastSeq}, channel at ${message.lastSeqs[Number(client.channel.slice(6))]}`);
      return send({ type: "checked", id: message.id, behind: behind.length, problems: found });
    }
    case "cpu": {
      const usage = process.cpuUsage();
      return send({ type: "cpu", id: message.id, seconds: (usage.user + usage.system) / 1e6 });
    }
  }
});
send({ type: "ready" });
