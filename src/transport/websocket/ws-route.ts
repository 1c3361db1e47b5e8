// The `/ws` upgrade, and the socket events handed to the socket's data: the session, or an `/ai-sdk/ws` socket.

import type { Server, ServerWebSocket, WebSocketHandler } from "bun";
import type { Principal } from "../../auth/principal.ts";
import { bearerToken, type TokenService } from "../../auth/tokens.ts";
import type { Gateway } from "../../gateway/gateway.ts";
import { Session } from "../../gateway/session.ts";
import { ErrorCode, ProtocolError } from "../../protocol/index.ts";
import { httpError } from "../../http/errors.ts";

/**
 * Bun's socket events, delivered straight to the session that is the socket's `data`; the socket
 * itself is the session's Transport. One object per connection for all of it, because memory is per
 * connection. They replace Elysia's server-wide handlers (which would call `data.open/message/...`):
 * frames reach the session raw, since Elysia's `.ws()` route would JSON-parse them and answer with
 * its own error frames.
 *
 * A socket's data is a Session (`/ws`), or another kind with the same members (`/ai-sdk/ws`).
 */
export interface SocketData {
  lastFrameAt: number;
  start(socket: ServerWebSocket<SocketData>): void;
  receive(message: string | Uint8Array): void;
  dispose(): void;
}

export const socketEvents: WebSocketHandler<SocketData> = {
  open(socket) {
    socket.data.start(socket);
  },
  message(socket, message) {
    socket.data.receive(message);
  },
  close(socket) {
    socket.data.dispose();
  },
  ping(socket) {
    socket.data.lastFrameAt = Date.now();
  },
  pong(socket) {
    socket.data.lastFrameAt = Date.now();
  },
};

// Characters of a query whose `token` a plain scan reads exactly as URLSearchParams would (tokens are
// base64url and dots): no percent-escapes, no `+`, nothing the URL parser would re-encode.
function plainQueryChar(code: number): boolean {
  return (
    (code >= 48 && code <= 57) || // 0-9
    (code >= 65 && code <= 90) || // A-Z
    (code >= 97 && code <= 122) || // a-z
    code === 45 || // -
    code === 46 || // .
    code === 95 || // _
    code === 126 || // ~
    code === 61 || // =
    code === 38 // &
  );
}

/**
 * The first `token` parameter of the URL's query, as `new URL(url).searchParams.get("token")` gives it,
 * without building a URL object and its parts for every upgrade (garbage that shows in memory per
 * connection). Any query with other characters goes through the URL parser.
 */
export function queryToken(url: string): string | undefined {
  const query = url.indexOf("?");
  if (query < 0) return undefined;
  for (let index = query + 1; index < url.length; index++) {
    if (!plainQueryChar(url.charCodeAt(index))) return new URL(url).searchParams.get("token") ?? undefined;
  }
  for (let start = query + 1; start < url.length; ) {
    let end = url.indexOf("&", start);
    if (end < 0) end = url.length;
    if (url.startsWith("token", start)) {
      if (end === start + 5) return "";
      if (url.charCodeAt(start + 5) === 61) return url.slice(start + 6, end);
    }
    start = end + 1;
  }
  return undefined;
}

/**
 * The `/ws` upgrade as a route of Bun's own router, ahead of Elysia's: an Elysia handler would build
 * a request context per upgrade (and `.ws()` would copy it into every socket's data), garbage that
 * shows in memory per connection. For the same reason, and because an upgrade deferred behind a promise
 * costs Bun more than one made at once, a token is verified without going async where it can be
 * (src/auth/tokens.ts). A bad token in the header or the query gets 401 and no upgrade.
 */
export function wsUpgrade(gateway: Gateway, tokens: TokenService) {
  const upgrade = (request: Request, server: Server<Session>, principal: Principal | undefined): Response | undefined => {
    if (server.upgrade(request, { data: new Session(gateway, principal) })) return undefined;
    return httpError(new ProtocolError(ErrorCode.invalidMessage, "GET /ws expects a WebSocket upgrade"));
  };
  const upgradeAs = (request: Request, server: Server<Session>, principal: Principal | undefined): Response | undefined => {
    if (!principal) return httpError(new ProtocolError(ErrorCode.unauthorized, "invalid or expired token"));
    return upgrade(request, server, principal);
  };
  return (request: Request, server: Server<Session>): Response | undefined | Promise<Response | undefined> => {
    const token = bearerToken(request.headers.get("authorization")) ?? queryToken(request.url);
    if (token === undefined) return upgrade(request, server, undefined);
    const verified = tokens.verify(token);
    if (verified instanceof Promise) return verified.then((principal) => upgradeAs(request, server, principal));
    return upgradeAs(request, server, verified);
  };
}
