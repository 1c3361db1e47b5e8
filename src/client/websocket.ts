// The part of the WebSocket API the client uses, so any implementation can be injected: the browser's,
// Bun's, Node 22's, or `ws` / undici on Node 20.

/** WebSocket.readyState values. */
export const ReadyState = { connecting: 0, open: 1, closing: 2, closed: 3 } as const;

export interface WebSocketLike {
  readonly readyState: number;
  // Handlers take `any` so the DOM's WebSocket (whose handlers take its own event types) is assignable.
  onopen: ((event: any) => void) | null;
  onmessage: ((event: any) => void) | null;
  onclose: ((event: any) => void) | null;
  onerror: ((event: any) => void) | null;
  send(data: string): void;
  close(code?: number, reason?: string): void;
}

export type WebSocketConstructor = new (url: string) => WebSocketLike;
