// What the gateway needs of Bun's native WebSocket topics and of the server's topic fan-out; only the
// WebSocket transport implements them (src/transport/websocket/).

/** A socket's membership of the server's native topics: the fast path of WebSocket fan-out. */
export interface Topics {
  /** Join the native topic so fan-out reaches this socket. */
  subscribe(topic: string): void;
  unsubscribe(topic: string): void;
  /** Publish to the topic's sockets, this one excepted. */
  publishText(topic: string, text: string): number;
}

/**
 * The socket under a WebSocket session. The methods carry the names of Bun's `ServerWebSocket`, so
 * that the socket itself is the transport: an adapter object per connection would cost memory.
 */
export interface Transport extends Topics {
  /** Bytes sent, -1 when queued under backpressure, 0 when dropped. */
  sendText(text: string): number;
  close(code: number, reason: string): void;
  getBufferedAmount(): number;
  ping(): void;
}

export interface Fanout {
  /** Publish to every socket on the topic; returns the worst send status among them. */
  publish(topic: string, text: string): number;
}
