// A WebSocket constructor to inject into the client SDK that lets a test cut the connection abruptly
// (frames in flight are lost, the client sees 1006) and drop chosen outgoing frames.

import type { WebSocketConstructor, WebSocketLike } from "../../src/client/index.ts";

export class ControlledSocket implements WebSocketLike {
  readonly inner: WebSocket;
  readonly sent: string[] = [];
  killed = false;
  onopen: ((event: any) => void) | null = null;
  onmessage: ((event: any) => void) | null = null;
  onclose: ((event: any) => void) | null = null;
  onerror: ((event: any) => void) | null = null;

  constructor(
    readonly url: string,
    private readonly control: SocketControl,
  ) {
    this.inner = new WebSocket(url);
    this.inner.onopen = (event) => !this.killed && this.onopen?.(event);
    this.inner.onmessage = (event) => {
      if (this.killed) return;
      const frames = control.transformIncoming ? control.transformIncoming(String(event.data)) : [String(event.data)];
      for (const data of frames) {
        if (this.killed) return;
        control.received++;
        this.onmessage?.({ data });
        control.onReceive?.();
      }
    };
    this.inner.onclose = (event) => !this.killed && this.onclose?.(event);
    this.inner.onerror = (event) => !this.killed && this.onerror?.(event);
  }

  get readyState(): number {
    return this.killed ? 3 : this.inner.readyState;
  }

  send(text: string): void {
    if (this.killed) return;
    if (this.control.dropOutgoing?.(text)) return;
    this.sent.push(text);
    this.inner.send(text);
  }

  close(code?: number, reason?: string): void {
    if (!this.killed) this.inner.close(code, reason);
  }

  /** Delivers a frame to the client as if the server had sent it now. */
  inject(data: string): void {
    if (!this.killed) this.onmessage?.({ data });
  }

  /** The network fails: nothing more arrives, and the client hears an abnormal close (1006). */
  kill(): void {
    if (this.killed) return;
    this.killed = true;
    this.inner.close();
    setTimeout(() => this.onclose?.({ code: 1006, reason: "" }), 0);
  }
}

export class SocketControl {
  readonly sockets: ControlledSocket[] = [];
  /** Frames for which this returns true are never sent (the server never answers them). */
  dropOutgoing: ((text: string) => boolean) | undefined;
  /** Rewrites each incoming frame into the frames the client gets instead (none: dropped; two: doubled). */
  transformIncoming: ((data: string) => string[]) | undefined;
  /** Called after each frame delivered to the client. */
  onReceive: (() => void) | undefined;
  /** Frames delivered to the client so far, over every socket. */
  received = 0;
  readonly WebSocket: WebSocketConstructor;

  constructor() {
    const control = this;
    this.WebSocket = class extends ControlledSocket {
      constructor(url: string) {
        super(url, control);
        control.sockets.push(this);
      }
    };
  }

  get current(): ControlledSocket | undefined {
    return this.sockets.at(-1);
  }

  /** Cuts the current connection abruptly. */
  cut(): void {
    this.current?.kill();
  }
}
