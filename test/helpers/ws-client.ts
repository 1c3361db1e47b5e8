// A WebSocket test client that queues every frame so none is lost, and waits on conditions, never on time.

export interface Frame {
  channel: string;
  id?: string;
  seq?: number;
  payload: Record<string, any>;
}

export interface CloseInfo {
  code: number;
  reason: string;
}

type Waiter = { predicate: (frame: Frame) => boolean; resolve: (frame: Frame) => void; reject: (error: Error) => void; timer: Timer };

let requestCounter = 0;

export class TestClient {
  readonly socket: WebSocket;
  private readonly queue: Frame[] = [];
  private readonly waiters: Waiter[] = [];
  closeInfo: CloseInfo | undefined;
  readonly closed: Promise<CloseInfo>;
  readonly opened: Promise<void>;

  constructor(url: string, options?: { headers?: Record<string, string> }) {
    this.socket = new WebSocket(url, options as never);
    this.opened = new Promise((resolve, reject) => {
      this.socket.addEventListener("open", () => resolve(), { once: true });
      this.socket.addEventListener("error", () => reject(new Error("websocket error before open")), { once: true });
    });
    this.closed = new Promise((resolve) => {
      this.socket.addEventListener("close", (event) => {
        this.closeInfo = { code: event.code, reason: event.reason };
        for (const waiter of this.waiters.splice(0)) {
          clearTimeout(waiter.timer);
          waiter.reject(new Error(`socket closed (${event.code} ${event.reason}) while waiting for a frame`));
        }
        resolve(this.closeInfo);
      });
    });
    this.socket.addEventListener("message", (event) => {
      const frame = JSON.parse(String(event.data)) as Frame;
      const index = this.waiters.findIndex((waiter) => waiter.predicate(frame));
      if (index >= 0) {
        const [waiter] = this.waiters.splice(index, 1);
        clearTimeout(waiter!.timer);
        waiter!.resolve(frame);
      } else {
        this.queue.push(frame);
      }
    });
  }

  /** Opens a socket and waits for the `connected` frame when a token is given in the URL or header. */
  static async connect(url: string, options?: { headers?: Record<string, string> }): Promise<TestClient> {
    const client = new TestClient(url, options);
    await client.opened;
    return client;
  }

  send(frame: unknown): void {
    this.socket.send(typeof frame === "string" ? frame : JSON.stringify(frame));
  }

  /** The next frame (oldest queued first) that matches; removes it from the queue. */
  next(predicate: (frame: Frame) => boolean = () => true, timeoutMs = 5000): Promise<Frame> {
    const index = this.queue.findIndex(predicate);
    if (index >= 0) return Promise.resolve(this.queue.splice(index, 1)[0]!);
    if (this.closeInfo) return Promise.reject(new Error(`socket closed (${this.closeInfo.code}) before a matching frame`));
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        const at = this.waiters.findIndex((waiter) => waiter.timer === timer);
        if (at >= 0) this.waiters.splice(at, 1);
        reject(new Error(`no matching frame within ${timeoutMs} ms; queued: ${JSON.stringify(this.queue).slice(0, 500)}`));
      }, timeoutMs);
      this.waiters.push({ predicate, resolve, reject, timer });
    });
  }

  /** Sends a frame with a fresh id and waits for the direct reply carrying that id. */
  async request(channel: string, payload: Record<string, unknown>, timeoutMs = 5000): Promise<Frame> {
    const id = `r${++requestCounter}`;
    this.send({ channel, id, payload });
    return this.next((frame) => frame.id === id, timeoutMs);
  }

  subscribe(channel: string, extra: Record<string, unknown> = {}): Promise<Frame> {
    return this.request("subscription", { action: "subscribe", channel, ...extra });
  }

  publish(channel: string, payload: Record<string, unknown>): Promise<Frame> {
    return this.request(channel, payload);
  }

  /**
   * A round trip through the server: every frame the server sent before answering this ping has
   * been received when it resolves. Used to assert that something did not arrive.
   */
  async barrier(): Promise<void> {
    const reply = await this.request("system", { type: "ping" });
    if (reply.payload.type !== "pong") throw new Error(`expected pong, got ${JSON.stringify(reply)}`);
  }

  /** Frames received and not yet taken by next(). */
  pending(predicate: (frame: Frame) => boolean = () => true): Frame[] {
    return this.queue.filter(predicate);
  }

  /** Removes and returns the queued frames that match, in arrival order. */
  drain(predicate: (frame: Frame) => boolean = () => true): Frame[] {
    const taken: Frame[] = [];
    for (let i = 0; i < this.queue.length; ) {
      if (predicate(this.queue[i]!)) taken.push(...this.queue.splice(i, 1));
      else i++;
    }
    return taken;
  }

  close(): void {
    this.socket.close();
  }
}

/** Connect with `?token=` and wait for `connected`. */
export async function connectAs(wsUrl: string, token: string): Promise<TestClient> {
  const client = await TestClient.connect(`${wsUrl}?token=${encodeURIComponent(token)}`);
  await client.next((frame) => frame.channel === "system" && frame.payload.type === "connected");
  return client;
}

/** Publications on a channel, in arrival order, taken from the queue. */
export function publications(client: TestClient, channel: string): Frame[] {
  return client.pending((frame) => frame.channel === channel && frame.seq !== undefined);
}
