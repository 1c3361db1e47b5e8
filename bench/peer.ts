// A bench connection that both awaits replies to its own requests (by id) and hands every other frame to a callback.

export interface Frame {
  channel: string;
  id?: string;
  seq?: number;
  payload: Record<string, unknown>;
}

export type FrameHandler = (frame: Frame, receivedAt: number, text: string) => void;

const REQUEST_TIMEOUT_MS = 10_000;

export class Peer {
  private readonly waiting = new Map<string, { resolve: (payload: Record<string, unknown>) => void; reject: (error: Error) => void; timer: Timer }>();
  private nextId = 0;
  /** Frames that are no reply to a request of this peer. */
  onFrame: FrameHandler = () => {};

  constructor(readonly socket: WebSocket) {
    socket.onmessage = (event) => {
      const receivedAt = performance.now();
      const text = event.data as string;
      const frame = JSON.parse(text) as Frame;
      const request = frame.id === undefined ? undefined : this.waiting.get(frame.id);
      if (!request) return this.onFrame(frame, receivedAt, text);
      this.waiting.delete(frame.id!);
      clearTimeout(request.timer);
      if (frame.channel === "error") request.reject(new Error(`${frame.payload.code}: ${frame.payload.message}`));
      else request.resolve(frame.payload);
    };
    socket.onclose = (event) => {
      for (const request of this.waiting.values()) {
        clearTimeout(request.timer);
        request.reject(new Error(`socket closed with ${event.code} ${event.reason}`.trim()));
      }
      this.waiting.clear();
    };
  }

  /** Sends `{channel, id, payload}` and resolves with the reply's payload; an `error` reply rejects. */
  request(channel: string, payload: Record<string, unknown>, timeoutMs = REQUEST_TIMEOUT_MS): Promise<Record<string, unknown>> {
    const id = `b${++this.nextId}`;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting.delete(id);
        reject(new Error(`no reply to ${channel} ${JSON.stringify(payload)} within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiting.set(id, { resolve, reject, timer });
      this.socket.send(JSON.stringify({ channel, id, payload }));
    });
  }
}
