// The only file that touches Elysia's and Bun's socket: adapts it to the gateway's Transport.

import { Elysia } from "elysia";
import type { ServerWebSocket } from "bun";
import type { Principal } from "../auth/principal.ts";
import { bearerToken, type TokenService } from "../auth/tokens.ts";
import type { Gateway } from "../gateway/gateway.ts";
import type { Session } from "../gateway/session.ts";
import type { Transport } from "../gateway/transport.ts";
import { ErrorCode, ProtocolError } from "../protocol/index.ts";

/**
 * The socket as the gateway's Transport, and (as the socket's `data`, replacing Elysia's once open)
 * the receiver of its events: frames reach the session raw, since Elysia would JSON-parse them and
 * answer with its own error frames, and Elysia's upgrade context is released for the GC. One object
 * per connection for both roles, because memory is per connection.
 */
class BunSocket implements Transport {
  session!: Session;
  constructor(private readonly socket: ServerWebSocket<unknown>) {}
  send(text: string): number {
    return this.socket.sendText(text);
  }
  end(code: number, reason: string): void {
    this.socket.close(code, reason);
  }
  subscribe(topic: string): void {
    this.socket.subscribe(topic);
  }
  unsubscribe(topic: string): void {
    this.socket.unsubscribe(topic);
  }
  publish(topic: string, text: string): number {
    return this.socket.publishText(topic, text);
  }
  bufferedAmount(): number {
    return this.socket.getBufferedAmount();
  }
  sendPing(): void {
    this.socket.ping();
  }
  // Bun's socket events, called with the socket first by Elysia's handlers.
  message(_socket: unknown, message: string | Buffer): void {
    this.session.receive(message);
  }
  close(): void {
    this.session.dispose();
  }
  drain(): void {}
  ping(): void {
    this.session.lastFrameAt = Date.now();
  }
  pong(): void {
    this.session.lastFrameAt = Date.now();
  }
}

export function wsRoute(gateway: Gateway, tokens: TokenService) {
  return new Elysia({ name: "ws-route" }).ws("/ws", {
    async beforeHandle(context) {
      const token = bearerToken(context.request.headers.get("authorization")) ?? context.query.token;
      if (token === undefined) return;
      const principal = await tokens.verify(token);
      if (!principal) throw new ProtocolError(ErrorCode.unauthorized, "invalid or expired token");
      (context as unknown as { principal: Principal }).principal = principal;
    },
    open(ws) {
      const socket = ws.raw as ServerWebSocket<{ principal?: Principal }>;
      const principal = socket.data.principal;
      const adapter = new BunSocket(socket as ServerWebSocket<unknown>);
      adapter.session = gateway.open(crypto.randomUUID(), adapter);
      (socket as ServerWebSocket<unknown>).data = adapter;
      adapter.session.start(principal);
    },
  });
}
