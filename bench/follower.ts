// A subscriber that disconnects and resumes with since/epoch, checking that its channel's seq never skips or repeats.

import { connect } from "./clients.ts";

export interface Resume {
  /** New socket opened until its `connected` frame. */
  connectMs: number;
  /** Subscribe frame sent until its ack. */
  resumeMs: number;
  /** Subscribe frame sent until the last replayed publication arrived: from then on the follower is live. */
  catchUpMs: number;
  replayed: number;
  recovered: boolean;
}

interface Publication {
  channel: string;
  seq?: number;
  payload: { n?: number; sent?: number; status?: string; seq?: number; epoch?: string; recovered?: boolean; replayed?: number; code?: string; message?: string };
}

const CLOSE_TIMEOUT_MS = 2_000;
const ACK_TIMEOUT_MS = 10_000;

export class Follower {
  /** Last seq received on the channel, across every socket this follower had. */
  lastSeq = 0;
  private epoch = "";
  private socket: WebSocket | undefined;
  /** Seq in the ack of the current subscription: publications up to it are replays, later ones are live. */
  private ackSeq = 0;
  private caughtUpAt: number | undefined;
  private onAck: ((payload: Publication["payload"], at: number) => void) | undefined;
  private onCaughtUp: ((at: number) => void) | undefined;
  received = 0;
  /** Publications received again, and jumps over missing ones; both must stay 0. */
  duplicates = 0;
  gaps = 0;
  private joins = 0;
  readonly problems: string[] = [];
  /** Publish-to-receive latency of live publications, appended as they come. */
  latencies: number[] = [];

  constructor(
    readonly name: string,
    readonly channel: string,
    private readonly token: string,
  ) {}

  private problem(text: string): void {
    if (this.problems.length < 10) this.problems.push(`${this.name}: ${text}`);
  }

  // Everything an ack changes is applied here, in order with the frames around it, never after an await.
  private applyAck(payload: Publication["payload"], receivedAt: number): void {
    if (payload.status !== "subscribed") return;
    const seq = payload.seq!;
    this.ackSeq = seq;
    if (this.epoch === "") {
      this.epoch = payload.epoch!;
      this.lastSeq = seq;
    } else if (payload.recovered !== true) {
      // Nothing is replayed: carry on from the channel's present; join() reports the gap.
      this.lastSeq = Math.max(this.lastSeq, seq);
      this.epoch = payload.epoch!;
    }
    this.caughtUpAt = this.lastSeq >= seq ? receivedAt : undefined;
  }

  private onFrame(event: MessageEvent): void {
    const receivedAt = performance.now();
    const frame = JSON.parse(event.data as string) as Publication;
    if (frame.channel === "subscription") {
      this.applyAck(frame.payload, receivedAt);
      const onAck = this.onAck;
      this.onAck = undefined;
      onAck?.(frame.payload, receivedAt);
      return;
    }
    if (frame.channel !== this.channel) {
      if (frame.channel === "error") this.problem(`error ${frame.payload.code}: ${frame.payload.message}`);
      return;
    }
    const seq = frame.seq!;
    // Where in the subscription it happened (during the replay or once live) is what points at the cause.
    const where = () => `ack seq ${this.ackSeq}, ${this.caughtUpAt === undefined ? "during the replay" : "after the replay"}, join ${this.joins}`;
    if (seq <= this.lastSeq) {
      this.duplicates++;
      this.problem(`duplicate: seq ${seq} after ${this.lastSeq} (${where()})`);
    } else if (seq !== this.lastSeq + 1) {
      this.gaps++;
      this.problem(`gap: seq ${seq} after ${this.lastSeq} (${where()})`);
    }
    // The publisher numbers each channel's messages from 0, and nobody else publishes there.
    if (frame.payload.n !== seq - 1) this.problem(`seq ${seq} carries message ${frame.payload.n}`);
    this.lastSeq = Math.max(this.lastSeq, seq);
    this.received++;
    if (seq > this.ackSeq) this.latencies.push(receivedAt - frame.payload.sent!);
    if (this.caughtUpAt === undefined && this.lastSeq >= this.ackSeq) {
      this.caughtUpAt = receivedAt;
      this.onCaughtUp?.(receivedAt);
      this.onCaughtUp = undefined;
    }
  }

  private waitFor<T>(what: string, register: (resolve: (value: T) => void) => void): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`${this.name}: no ${what} within ${ACK_TIMEOUT_MS} ms`)), ACK_TIMEOUT_MS);
      register((value) => {
        clearTimeout(timer);
        resolve(value);
      });
    });
  }

  /** Opens a socket to `url` and subscribes: the first time from now on, later from where the last socket stopped. */
  async join(url: string): Promise<Resume> {
    this.joins++;
    const connectStartedAt = performance.now();
    const socket = await connect(url, this.token);
    const connectMs = performance.now() - connectStartedAt;
    this.socket = socket;
    socket.onmessage = (event) => this.onFrame(event);
    socket.onclose = (event) => {
      if (this.socket === socket) this.problem(`closed by the server with ${event.code} ${event.reason}`);
    };
    const resuming = this.epoch !== "";
    const since = this.lastSeq;
    const epoch = this.epoch;
    const sentAt = performance.now();
    const acked = this.waitFor<[Publication["payload"], number]>("subscription ack", (resolve) => {
      this.onAck = (payload, at) => resolve([payload, at]);
    });
    const recovery = resuming ? { since, epoch } : {};
    socket.send(JSON.stringify({ channel: "subscription", id: "f1", payload: { action: "subscribe", channel: this.channel, ...recovery } }));
    const [ack, ackedAt] = await acked;
    if (ack.status !== "subscribed") throw new Error(`${this.name}: subscribe answered ${JSON.stringify(ack)}`);
    const resumeMs = ackedAt - sentAt;
    if (!resuming) return { connectMs, resumeMs, catchUpMs: resumeMs, replayed: 0, recovered: true };
    if (ack.epoch !== epoch) this.problem(`epoch changed from ${epoch} to ${ack.epoch}`);
    if (ack.recovered !== true) {
      this.problem(`not recovered from seq ${since} (channel at ${ack.seq})`);
      return { connectMs, resumeMs, catchUpMs: Number.NaN, replayed: 0, recovered: false };
    }
    if (ack.replayed !== ack.seq! - since) this.problem(`ack says ${ack.replayed} replayed, expected ${ack.seq! - since}`);
    const caughtUpAt = this.caughtUpAt ?? (await this.waitFor<number>("end of the replay", (resolve) => (this.onCaughtUp = resolve)));
    return { connectMs, resumeMs, catchUpMs: caughtUpAt - sentAt, replayed: ack.replayed ?? 0, recovered: true };
  }

  /** Closes the socket as a client going away would, and waits (bounded) for the close to complete. */
  async leave(): Promise<void> {
    const socket = this.socket;
    if (!socket) return;
    this.socket = undefined;
    await Promise.race([
      new Promise<void>((resolve) => {
        socket.onclose = () => resolve();
        socket.close();
      }),
      Bun.sleep(CLOSE_TIMEOUT_MS),
    ]);
    socket.onmessage = socket.onclose = null;
  }
}
