// Channels and threads as Server-Sent Events over plain HTTP (docs/protocol.md section 10): a thin
// adapter over the gateway's subscribe, with the same permissions, limits and recovery as a socket.

import { Elysia, t } from "elysia";
import { canSubscribe } from "../../auth/principal.ts";
import { bearerToken, type TokenService } from "../../auth/tokens.ts";
import type { Gateway } from "../../gateway/gateway.ts";
import { ErrorCode, ProtocolError, isReservedChannel, isValidChannel, threadChannel, threadIdOf } from "../../protocol/index.ts";
import { queryToken } from "../websocket/ws-route.ts";
import { admitStream, EVENT_STREAM_HEADERS, streamResponse } from "./open-stream.ts";
import { SseConnection, SseWriteBatch } from "./sse-connection.ts";
import { streamStart } from "./sse-position.ts";

export interface SseRouteDeps {
  gateway: Gateway;
  tokens: TokenService;
}

const streamDetail = (summary: string) => ({
  summary,
  description:
    "Server-Sent Events: `id: <epoch>:<seq>`, `event: <payload.type>`, `data: <payload with seq>`. Resume with Last-Event-ID or ?since=&epoch=; " +
    "?since=0 replays all history; ?until=final ends after the run's final event; ?token= for EventSource.",
  security: [{ bearerAuth: [] }],
});

export function sseRoutes({ gateway, tokens }: SseRouteDeps) {
  const batch = new SseWriteBatch();
  /** Authenticates, checks the channel like a socket subscribe, and answers with the live stream. */
  const open = async (request: Request, channel: string): Promise<Response> => {
    const token = bearerToken(request.headers.get("authorization")) ?? queryToken(request.url);
    if (!token) throw new ProtocolError(ErrorCode.unauthorized, "missing bearer token (header, or ?token= for EventSource)");
    const principal = await tokens.verify(token);
    if (!principal) throw new ProtocolError(ErrorCode.unauthorized, "invalid or expired token");
    if (!isValidChannel(channel)) throw new ProtocolError(ErrorCode.invalidMessage, "invalid channel name", ["/channel"]);
    const start = streamStart(request);
    if (isReservedChannel(channel)) throw new ProtocolError(ErrorCode.forbidden, `channel ${channel} is reserved`);
    const accessCheckedAt = gateway.revocationMark();
    if (!(await canSubscribe(principal, channel, gateway.threadAccess))) {
      // Another user's thread answers as one that does not exist.
      const threadId = threadIdOf(channel);
      if (threadId !== undefined) throw new ProtocolError(ErrorCode.notFound, `no thread ${threadId}`);
      throw new ProtocolError(ErrorCode.forbidden, `no subscribe permission on channel ${channel}`);
    }
    const connection = admitStream(gateway, new SseConnection(principal, gateway, { untilFinal: start.untilFinal, batch }));
    return streamResponse(connection, EVENT_STREAM_HEADERS, () =>
      gateway.subscribe(connection, channel, { since: start.since, epoch: start.epoch, currentEpoch: start.currentEpoch, accessCheckedAt }),
    );
  };

  return new Elysia({ name: "sse-routes" })
    .get("/channels/:channel/events", ({ request, params }) => open(request, params.channel), {
      params: t.Object({ channel: t.String({ maxLength: 256 }) }),
      detail: streamDetail("A channel as Server-Sent Events, resumable on any node"),
    })
    .get("/threads/:id/events", ({ request, params }) => open(request, threadChannel(params.id)), {
      params: t.Object({ id: t.String({ minLength: 1, maxLength: 128 }) }),
      detail: streamDetail("A thread's run events as Server-Sent Events, resumable on any node"),
    });
}
