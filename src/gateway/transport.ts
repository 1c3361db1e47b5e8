// What the protocol core needs of a socket and of the server's native topic fan-out; only the route file implements it.

/**
 * The methods carry the names of Bun's `ServerWebSocket`, so that the socket itself is the transport:
 * an adapter object per connection would cost memory, which is per connection.
 */
export interface Transport {
  /** Bytes sent, -1 when queued under backpressure, 0 when dropped. */
  sendText(text: string): number;
  close(code: number, reason: string): void;
  /** Join the native topic so fan-out reaches this socket. */
  subscribe(topic: string): void;
  unsubscribe(topic: string): void;
  /** Publish to the topic's sockets, this one excepted. */
  publishText(topic: string, text: string): number;
  getBufferedAmount(): number;
  ping(): void;
}

export interface Fanout {
  /** Publish to every socket on the topic; returns the worst send status among them. */
  publish(topic: string, text: string): number;
}
