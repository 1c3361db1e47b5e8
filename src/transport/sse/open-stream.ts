// Opening an event stream of any SSE-based transport (plain SSE, the AI SDK's, AG-UI's) the same way:
// registered with the gateway, within the user's connection limit, closed if it fails to start.

import type { Gateway } from "../../gateway/gateway.ts";
import { CloseCode, ErrorCode, ProtocolError } from "../../protocol/index.ts";
import type { SseConnection } from "./sse-connection.ts";

/** Headers of every event stream: proxies that buffer responses (nginx) would hold events back. */
export const EVENT_STREAM_HEADERS = {
  "content-type": "text/event-stream; charset=utf-8",
  "cache-control": "no-cache, no-transform",
  "x-accel-buffering": "no",
};

/** Registers the stream; `too_many_connections` when its user already holds as many as allowed (docs/protocol.md section 10.5). */
export function admitStream<C extends SseConnection>(gateway: Gateway, connection: C): C {
  gateway.register(connection);
  if (!gateway.admit(connection)) {
    connection.close(CloseCode.policyViolation, "too many connections");
    throw new ProtocolError(ErrorCode.tooManyConnections, "this user holds as many connections as allowed on this node");
  }
  return connection;
}

/** Runs `start` (a subscribe, a run's start) with the stream open, and answers with it; closes it when `start` fails. */
export async function streamResponse(connection: SseConnection, headers: Record<string, string>, start: () => Promise<void> | void): Promise<Response> {
  try {
    await start();
  } catch (error) {
    connection.close(CloseCode.internalError, "stream failed to start");
    throw error;
  }
  return new Response(connection.stream, { headers });
}
