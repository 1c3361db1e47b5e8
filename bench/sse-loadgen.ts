// A load-generator process of the sse scenario: holds WebSocket subscribers and SSE readers, each on
// one channel, parses every delivery, and tells the bench (over IPC) which seqs all of them have.

import { closeAll, connectAndSubscribe } from "./clients.ts";
import type { LoadgenCommand, LoadgenReport, ReaderKind } from "./sse-loadgen-messages.ts";

const CONNECT_TIMEOUT_MS = 10_000;
/** Seqs in flight on a channel are bounded by the bench's window (at most 1,000): a ring this size never wraps onto one still counting. */
const RING = 4096;

const send = (report: LoadgenReport) => process.send!(report);

/** The readers of one channel: how many of them have each seq, and the highest seq all of them have. */
class Readers {
  count = 0;
  private readonly have = new Int32Array(RING);
  private complete = 0;
  private reported = 0;
  private flushQueued = false;
  problems = 0;
  readonly sockets: WebSocket[] = [];
  readonly streams: AbortController[] = [];

  constructor(
    readonly kind: ReaderKind,
    readonly channel: string,
  ) {}

  async close(): Promise<void> {
    for (const stream of this.streams.splice(0)) stream.abort();
    await closeAll(this.sockets.splice(0));
  }

  problem(text: string): void {
    if (this.problems++ < 10) send({ type: "problem", text: `${this.channel}: ${text}` });
  }

  /** One reader got `seq`, having had `previous` before it. */
  delivered(seq: number, previous: number): void {
    if (seq !== previous + 1) this.problem(`${this.kind} reader: seq ${seq} after ${previous}`);
    const slot = seq % RING;
    if (++this.have[slot]! < this.count) return;
    this.have[slot] = 0;
    if (seq > this.complete) this.complete = seq;
    // One report per turn of the event loop at most, however many seqs completed in it.
    if (!this.flushQueued) {
      this.flushQueued = true;
      setImmediate(() => {
        this.flushQueued = false;
        if (this.complete === this.reported) return;
        this.reported = this.complete;
        send({ type: "complete", channel: this.channel, seq: this.complete });
      });
    }
  }
}

const readers = new Map<string, Readers>();

const SEQ_FIELD = '"seq":';

/** A WebSocket subscriber: the seq is read from the frame's text, `{"channel":C,"seq":N,...`. */
async function openWebSocket(own: Readers, wsUrl: string, token: string): Promise<void> {
  const socket = await connectAndSubscribe(wsUrl, own.channel, token);
  let last = 0;
  socket.onmessage = (event) => {
    const text = event.data as string;
    const at = text.indexOf(SEQ_FIELD);
    const seq = Number.parseInt(text.slice(at + SEQ_FIELD.length, at + SEQ_FIELD.length + 20), 10);
    own.delivered(seq, last);
    last = seq;
  };
  socket.onclose = (event) => own.problem(`a WebSocket closed with ${event.code} ${event.reason}`);
  own.sockets.push(socket);
}

/**
 * An SSE reader: the stream is split into events at blank lines and each event into its fields, as
 * EventSource does; an event with data is a publication, whose seq is the one after the id's colon.
 */
async function openEventStream(own: Readers, httpUrl: string, token: string): Promise<void> {
  const channel = own.channel;
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), CONNECT_TIMEOUT_MS);
  const response = await fetch(`${httpUrl}/channels/${channel}/events`, { headers: { authorization: `Bearer ${token}` }, signal: abort.signal });
  clearTimeout(timer);
  if (response.status !== 200 || !response.body) throw new Error(`GET /channels/${channel}/events answered ${response.status}`);
  own.streams.push(abort);
  const closing = () => abort.signal.aborted;
  void (async () => {
    const decoder = new TextDecoder();
    let last = 0;
    let rest = "";
    for await (const chunk of response.body!) {
      rest += decoder.decode(chunk, { stream: true });
      let end: number;
      while ((end = rest.indexOf("\n\n")) >= 0) {
        const event = rest.slice(0, end);
        rest = rest.slice(end + 2);
        let id = "";
        let name = "";
        let data: string | undefined;
        for (const line of event.split("\n")) {
          if (line.startsWith("id: ")) id = line.slice(4);
          else if (line.startsWith("event: ")) name = line.slice(7);
          else if (line.startsWith("data: ")) data = line.slice(6);
        }
        // A comment (": ping") or the position the stream starts at: no publication.
        if (data === undefined) continue;
        const seq = Number(id.slice(id.lastIndexOf(":") + 1));
        if (name !== "publication" || !data.endsWith(`"seq":${seq}}`)) own.problem(`sse event ${name} ${id} carries ${data.slice(-40)}`);
        own.delivered(seq, last);
        last = seq;
      }
    }
    if (!closing()) own.problem("an SSE stream ended");
  })().catch((error) => {
    if (!closing()) own.problem(`an SSE stream failed: ${(error as Error).message}`);
  });
}

/** Opens `count` readers, at most `batch` at a time, so neither side's accept queue overflows. */
async function open(command: Extract<LoadgenCommand, { type: "open" }>): Promise<void> {
  let own = readers.get(command.channel);
  if (!own) readers.set(command.channel, (own = new Readers(command.kind, command.channel)));
  for (let start = 0; start < command.count; start += command.batch) {
    const batch: Promise<void>[] = [];
    for (let index = start; index < Math.min(command.count, start + command.batch); index++) {
      batch.push(
        command.kind === "ws"
          ? openWebSocket(own, command.wsUrl, command.token)
          : openEventStream(own, command.httpUrl, command.token),
      );
    }
    const failure = (await Promise.allSettled(batch)).find((result) => result.status === "rejected");
    if (failure) throw (failure as PromiseRejectedResult).reason;
  }
  own.count += command.count;
}

process.on("message", (message: LoadgenCommand) => {
  const done = (report: LoadgenReport) => send(report);
  switch (message.type) {
    case "open":
      open(message).then(
        () => done({ type: "opened", id: message.id }),
        (error) => done({ type: "failed", id: message.id, text: (error as Error).message }),
      );
      break;
    case "cpu": {
      const usage = process.cpuUsage();
      done({ type: "cpu", id: message.id, seconds: (usage.user + usage.system) / 1e6 });
      break;
    }
    case "close":
      void Promise.all([...readers.values()].map((own) => own.close())).then(() => {
        readers.clear();
        done({ type: "closed", id: message.id });
      });
      break;
  }
});
send({ type: "ready" });
