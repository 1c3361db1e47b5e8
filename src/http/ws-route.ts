// The only file that touches Bun's socket: the `/ws` upgrade, and the adapter between the socket and
// the gateway's Transport.

import type { Server, ServerWebSocket } from "bun";
import type { Principal } from "../auth/principal.ts";
import { bearerToken, type TokenService } from "../auth/tokens.ts";
import type { Gateway } from "../gateway/gateway.ts";
import type { Session } from "../gateway/session.ts";
import type { Transport } from "../gateway/transport.ts";
import { ErrorCode, ProtocolError } from "../protocol/index.ts";
import { httpError } from "./errors.ts";

/**
 * The socket as the gateway's Transport, and, as the socket's `data`, the receiver of its events:
 * Elysia's server-wide WebSocket handlers call `data.open/message/close/...` for every socket. One
 * small object per connection for both roles, because memory is per connection; frames reach the
 * session raw, since Elysia's `.ws()` route would JSON-parse them and answer with its own error frames.
 */
class BunSocket implements Transport {
  private socket!: ServerWebSocket<BunSocket>;
  // Until the socket opens: what opening it needs; then the session (one field, not three).
  private target: Session | { gateway: Gateway; principal: Principal | undefined };

  constructor(gateway: Gateway, principal: Principal | undefined) {
    this.target = { gateway, principal };
  }

  private get session(): Session {
    return this.target as Session;
  }

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

  // Bun's socket events, each called with the socket first.
  open(socket: ServerWebSocket<BunSocket>): void {
    this.socket = socket;
    const { gateway, principal } = this.target as { gateway: Gateway; principal: Principal | undefined };
    const session = gateway.open(crypto.randomUUID(), this);
    this.target = session;
    session.start(principal);
  }
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

/**
 * The `/ws` upgrade as a route of Bun's own router, ahead of Elysia's: an Elysia handler would build
 * a request context per upgrade (and `.ws()` would copy it into every socket's data), garbage that
 * shows in memory per connection. A bad token in the header or the query gets 401 and no upgrade.
 */
export function wsUpgrade(gateway: Gateway, tokens: TokenService) {
  return async (request: Request, server: Server<BunSocket>): Promise<Response | undefined> => {
    const token = bearerToken(request.headers.get("authorization")) ?? new URL(request.url).searchParams.get("token") ?? undefined;
    let principal: Principal | undefined;
    if (token !== undefined) {
      principal = await tokens.verify(token);
      if (!principal) return httpError(new ProtocolError(ErrorCode.unauthorized, "invalid or expired token"));
    }
    if (server.upgrade(request, { data: new BunSocket(gateway, principal) })) return undefined;
    return httpError(new ProtocolError(ErrorCode.invalidMessage, "GET /ws expects a WebSocket upgrade"));
  };
}
