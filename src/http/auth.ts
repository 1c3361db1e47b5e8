// Bearer authentication for HTTP routes and the WebSocket upgrade.

import type { Principal } from "../auth/principal.ts";
import { bearerToken, type TokenService } from "../auth/tokens.ts";
import { ErrorCode, ProtocolError } from "../protocol/index.ts";

/** The principal of a request's bearer token; throws `unauthorized` when missing or bad. */
export async function requirePrincipal(tokens: TokenService, authorization: string | null | undefined): Promise<Principal> {
  const token = bearerToken(authorization);
  if (!token) throw new ProtocolError(ErrorCode.unauthorized, "missing bearer token");
  const principal = await tokens.verify(token);
  if (!principal) throw new ProtocolError(ErrorCode.unauthorized, "invalid or expired token");
  return principal;
}
