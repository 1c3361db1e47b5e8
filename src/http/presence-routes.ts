// `GET /channels/:channel/presence` (docs/protocol.md section 14): the presence query over REST, with the
// permission of an SSE stream of the channel (another user's thread is 404).

import { Elysia, t } from "elysia";
import type { TokenService } from "../auth/tokens.ts";
import type { Gateway } from "../gateway/gateway.ts";
import { ErrorCode, MAX_PRESENCE_PAGE, ProtocolError, isValidChannel } from "../protocol/index.ts";
import { requirePrincipal } from "./auth.ts";

export interface PresenceRouteDeps {
  gateway: Gateway;
  tokens: TokenService;
}

const PresenceQuery = t.Object({
  limit: t.Optional(t.Numeric({ minimum: 1, maximum: MAX_PRESENCE_PAGE, multipleOf: 1 })),
  cursor: t.Optional(t.String({ minLength: 1, maxLength: 256 })),
});

export function presenceRoutes({ gateway, tokens }: PresenceRouteDeps) {
  return new Elysia({ name: "presence-routes" }).get(
    "/channels/:channel/presence",
    async ({ request, params, query }) => {
      const principal = await requirePrincipal(tokens, request.headers.get("authorization"));
      const { channel } = params;
      if (!isValidChannel(channel)) throw new ProtocolError(ErrorCode.invalidMessage, "invalid channel name", ["/channel"]);
      return gateway.presence.query(principal, channel, query.limit, query.cursor);
    },
    {
      params: t.Object({ channel: t.String({ maxLength: 256 }) }),
      query: PresenceQuery,
      detail: { summary: "Who is present on a channel: one page, with next_cursor when more follow", security: [{ bearerAuth: [] }] },
    },
  );
}
