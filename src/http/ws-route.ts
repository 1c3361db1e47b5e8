// The only file that touches Elysia's and Bun's socket: adapts it to the gateway's Transport.

import { Elysia } from "elysia";
import type { ServerWebSocket } from "bun";
import type { Principal } from "../auth/principal.ts";
import { bearerToken, type TokenService } from "../auth/tokens.ts";
import type { Gateway } from "../gateway/gateway.ts";
import type { Session } from "../gateway/session.ts";
import type { Transport } from "../gateway/transport.ts";
import { ErrorCode, ProtocolError } from "../protocol/index.ts";

class BunTransport implements Transport {
  constructor(private readonly socket: ServerWebSocket<unknown>) {}
  send(text: string): number {
    return this.socket.sendText(text);
  }
  close(code: number, reason: string): void {
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
  ping(): void {
    this.socket.ping();
  }
}

// Replaces Elysia's per-socket data once open: frames reach the session raw (Elysia would JSON-parse
// them and validate with its own error frames), and the upgrade context is released for the GC.
class SocketHandlers {
  constructor(private readonly session: Session) {}
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
      const session = gateway.open(crypto.randomUUID(), new BunTransport(socket as ServerWebSocket<unknown>));
      (socket as ServerWebSocket<unknown>).data = new SocketHandlers(session);
      session.start(principal);
    },
  });
}
