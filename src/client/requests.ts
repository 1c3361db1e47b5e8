// Requests by id: the frames waiting for their reply, and the bounded offline queue of frames waiting for a connection.

import type { ServerEnvelope } from "../protocol/server-frames.ts";
import { AgentwireError, ClientErrorCode } from "./errors.ts";

export interface RequestSpec {
  channel: string;
  payload: Record<string, unknown>;
  timeoutMs: number;
  /**
   * Called synchronously with the reply (an `error` frame included), before the next frame is read:
   * a subscribe ack must be handled before the replay that follows it, and WebSocket libraries may
   * deliver several frames before any promise callback runs.
   */
  onReply(frame: ServerEnvelope): void;
  onFail(error: AgentwireError): void;
}

interface Entry {
  id: string;
  spec: RequestSpec;
  timer: ReturnType<typeof setTimeout>;
}

export type SendText = (text: string) => void;

export class Requests {
  private readonly inFlight = new Map<string, Entry>();
  private readonly offline: Entry[] = [];
  private counter = 0;

  constructor(private readonly maxOfflineQueue: number) {}

  get queued(): number {
    return this.offline.length;
  }

  /**
   * Sends the request through `send`, or, offline (`send` undefined), queues it when `queue` allows;
   * a full queue, or no queue, fails it at once. The timeout runs from now, queued or not.
   */
  start(spec: RequestSpec, send: SendText | undefined, queue: boolean): void {
    if (!send && !queue) return spec.onFail(new AgentwireError(ClientErrorCode.disconnected, "not connected"));
    if (!send && this.offline.length >= this.maxOfflineQueue) {
      return spec.onFail(
        new AgentwireError(ClientErrorCode.offlineQueueFull, `offline queue full: ${this.maxOfflineQueue} frames already wait for a connection`),
      );
    }
    const id = "c" + (++this.counter).toString(36);
    const entry: Entry = { id, spec, timer: setTimeout(() => this.expire(entry), spec.timeoutMs) };
    if (send) this.transmit(entry, send);
    else this.offline.push(entry);
  }

  /** Hands a frame carrying an id to its request; false when no request waits for that id. */
  reply(frame: ServerEnvelope): boolean {
    const entry = frame.id === undefined ? undefined : this.inFlight.get(frame.id);
    if (!entry) return false;
    this.inFlight.delete(entry.id);
    clearTimeout(entry.timer);
    entry.spec.onReply(frame);
    return true;
  }

  /** Sends every queued request, oldest first. */
  flush(send: SendText): void {
    for (const entry of this.offline.splice(0)) this.transmit(entry, send);
  }

  /** The connection dropped: the replies of sent requests are lost, and resending could apply them twice. */
  failInFlight(error: AgentwireError): void {
    const entries = [...this.inFlight.values()];
    this.inFlight.clear();
    for (const entry of entries) {
      clearTimeout(entry.timer);
      entry.spec.onFail(error);
    }
  }

  /** Fails everything, queued included (the client is closed). */
  failAll(error: AgentwireError): void {
    this.failInFlight(error);
    for (const entry of this.offline.splice(0)) {
      clearTimeout(entry.timer);
      entry.spec.onFail(error);
    }
  }

  private transmit(entry: Entry, send: SendText): void {
    this.inFlight.set(entry.id, entry);
    send(JSON.stringify({ channel: entry.spec.channel, id: entry.id, payload: entry.spec.payload }));
  }

  private expire(entry: Entry): void {
    if (this.inFlight.get(entry.id) === entry) this.inFlight.delete(entry.id);
    else {
      const index = this.offline.indexOf(entry);
      if (index < 0) return;
      this.offline.splice(index, 1);
    }
    entry.spec.onFail(new AgentwireError(ClientErrorCode.timeout, `no reply to ${entry.spec.channel} request within ${entry.spec.timeoutMs} ms`));
  }
}
