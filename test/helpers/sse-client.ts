// A Server-Sent Events test client over fetch: parses the stream as the HTML spec reads it, queues
// every event and comment so none is lost, waits on conditions, and can be cut at any point.

/** One block of fields ended by a blank line, as written (even one without data, which a browser would not dispatch). */
export interface SseEvent {
  kind: "event";
  id?: string;
  /** Absent means the default `message`. */
  event?: string;
  /** Data lines joined with "\n"; absent when the block had no data field. */
  data?: string;
  /** Field names the spec does not know (it ignores them): a writer's mistake. */
  unknownFields: string[];
}

export interface SseComment {
  kind: "comment";
  /** The text after the colon, one leading space removed. */
  text: string;
}

export type SseItem = SseEvent | SseComment;

/** How the body ended: cleanly (`done`), cut by the client (`aborted`), or broken (`error`: a reset, a truncated chunk). */
export type SseEnd = { kind: "done" } | { kind: "aborted" } | { kind: "error"; error: Error };

/** An incremental parser: feed it text as it arrives, it returns the items completed so far. */
export class SseParser {
  private rest = "";
  private block: SseEvent | undefined;

  push(text: string): SseItem[] {
    this.rest += text;
    const items: SseItem[] = [];
    let start = 0;
    for (let index = 0; index < this.rest.length; index++) {
      const code = this.rest.charCodeAt(index);
      if (code !== 10 && code !== 13) continue;
      // A CR at the end might be the first half of CRLF: wait for the next chunk.
      if (code === 13 && index === this.rest.length - 1) break;
      this.line(this.rest.slice(start, index), items);
      if (code === 13 && this.rest.charCodeAt(index + 1) === 10) index++;
      start = index + 1;
    }
    this.rest = this.rest.slice(start);
    return items;
  }

  /** Text after the last complete line: what a cut left unfinished. */
  get pending(): string {
    return this.rest;
  }

  private line(line: string, items: SseItem[]): void {
    if (line === "") {
      if (this.block) items.push(this.block);
      this.block = undefined;
      return;
    }
    if (line.startsWith(":")) {
      items.push({ kind: "comment", text: line.slice(line.startsWith(": ") ? 2 : 1) });
      return;
    }
    const colon = line.indexOf(":");
    const name = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    const block = (this.block ??= { kind: "event", unknownFields: [] });
    if (name === "data") block.data = block.data === undefined ? value : `${block.data}\n${value}`;
    else if (name === "event") block.event = value;
    else if (name === "id") block.id = value;
    else if (name !== "retry") block.unknownFields.push(name);
  }
}

/** Parses a whole SSE text (a finished body, curl's output). */
export function parseSse(text: string): SseItem[] {
  return new SseParser().push(text);
}

export interface SseOpenOptions {
  headers?: Record<string, string>;
  /** Sent as `Last-Event-ID`, as a reconnecting EventSource does. */
  lastEventId?: string;
  /** False: leave the body unread (a slow reader) until `startReading()`. */
  read?: boolean;
}

type Waiter = { predicate: (item: SseItem) => boolean; resolve: (item: SseItem) => void; reject: (error: Error) => void; timer: Timer };

export class SseClient {
  /** The id of the last block that carried one: what a reconnect sends as Last-Event-ID. */
  lastEventId: string | undefined;
  /** Every item received, in order, taken or not. */
  readonly received: SseItem[] = [];
  end: SseEnd | undefined;
  readonly ended: Promise<SseEnd>;
  private readonly queue: SseItem[] = [];
  private readonly waiters: Waiter[] = [];
  private readonly parser = new SseParser();
  private resolveEnded: (end: SseEnd) => void = () => {};
  private reading = false;

  private constructor(
    readonly response: Response,
    private readonly controller: AbortController,
  ) {
    this.ended = new Promise((resolve) => (this.resolveEnded = resolve));
  }

  /** Opens the stream and resolves once the headers are in; throws with status and body when it is not a 200 event stream. */
  static async open(url: string, options: SseOpenOptions = {}): Promise<SseClient> {
    const controller = new AbortController();
    const headers: Record<string, string> = { accept: "text/event-stream", ...options.headers };
    if (options.lastEventId !== undefined) headers["last-event-id"] = options.lastEventId;
    const response = await fetch(url, { headers, signal: controller.signal });
    if (response.status !== 200 || !response.headers.get("content-type")?.startsWith("text/event-stream")) {
      throw new Error(`expected an event stream, got ${response.status}: ${await response.text()}`);
    }
    const client = new SseClient(response, controller);
    if (options.read !== false) client.startReading();
    return client;
  }

  startReading(): void {
    if (this.reading) return;
    this.reading = true;
    void this.pump();
  }

  /** The next item (oldest queued first) that matches; removes it from the queue. */
  next(predicate: (item: SseItem) => boolean = () => true, timeoutMs = 5000): Promise<SseItem> {
    const index = this.queue.findIndex(predicate);
    if (index >= 0) return Promise.resolve(this.queue.splice(index, 1)[0]!);
    if (this.end) return Promise.reject(new Error(`stream ended (${this.end.kind}) before a matching item`));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        const at = this.waiters.findIndex((waiter) => waiter.timer === timer);
        if (at >= 0) this.waiters.splice(at, 1);
        reject(new Error(`no matching item within ${timeoutMs} ms; queued: ${JSON.stringify(this.queue).slice(0, 500)}`));
      }, timeoutMs);
      this.waiters.push({ predicate, resolve, reject, timer });
    });
  }

  /** The next block with data (a dispatched event), skipping nothing: comments and position-only blocks stay queued. */
  nextEvent(timeoutMs?: number): Promise<SseEvent> {
    return this.next((item) => item.kind === "event" && item.data !== undefined, timeoutMs) as Promise<SseEvent>;
  }

  /** Removes and returns the queued items that match, in arrival order. */
  drain(predicate: (item: SseItem) => boolean = () => true): SseItem[] {
    const taken: SseItem[] = [];
    for (let index = 0; index < this.queue.length; ) {
      if (predicate(this.queue[index]!)) taken.push(...this.queue.splice(index, 1));
      else index++;
    }
    return taken;
  }

  /** Events with data received so far (taken or not), in order. */
  events(): SseEvent[] {
    return this.received.filter((item): item is SseEvent => item.kind === "event" && item.data !== undefined);
  }

  /** Cuts the stream from the client's side, as a dropped connection or a closed tab would. */
  abort(): void {
    this.controller.abort();
    this.startReading();
  }

  private async pump(): Promise<void> {
    const decoder = new TextDecoder();
    let end: SseEnd;
    try {
      for await (const chunk of this.response.body!) {
        for (const item of this.parser.push(decoder.decode(chunk, { stream: true }))) this.take(item);
      }
      end = { kind: "done" };
    } catch (error) {
      end = this.controller.signal.aborted ? { kind: "aborted" } : { kind: "error", error: error as Error };
    }
    this.end = end;
    for (const waiter of this.waiters.splice(0)) {
      clearTimeout(waiter.timer);
      waiter.reject(new Error(`stream ended (${end.kind}) while waiting for an item`));
    }
    this.resolveEnded(end);
  }

  private take(item: SseItem): void {
    this.received.push(item);
    if (item.kind === "event" && item.id !== undefined) this.lastEventId = item.id;
    const index = this.waiters.findIndex((waiter) => waiter.predicate(item));
    if (index < 0) return void this.queue.push(item);
    const [waiter] = this.waiters.splice(index, 1);
    clearTimeout(waiter!.timer);
    waiter!.resolve(item);
  }
}

/** The data of an event as JSON. */
export function dataOf(event: SseItem): Record<string, any> {
  if (event.kind !== "event" || event.data === undefined) throw new Error(`not an event with data: ${JSON.stringify(event)}`);
  return JSON.parse(event.data) as Record<string, any>;
}

/** `<epoch>:<seq>` split; the seq as a number. */
export function positionOf(id: string): { epoch: string; seq: number } {
  const colon = id.lastIndexOf(":");
  return { epoch: id.slice(0, colon), seq: Number(id.slice(colon + 1)) };
}
