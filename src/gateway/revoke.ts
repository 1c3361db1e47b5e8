// Ends a user's subscriptions to a thread on this node when the thread's owner removed them or lowered
// them to viewer (docs/protocol.md section 14); every node does it on the control bus's notice.

import { matchesAny } from "../auth/glob.ts";
import { CloseCode, threadChannel, unsubscribedFrame } from "../protocol/index.ts";
import type { Gateway } from "./gateway.ts";

export function revokeThreadSubscriptions(gateway: Gateway, threadId: string, userId: string): void {
  const channel = threadChannel(threadId);
  for (const connection of gateway.subscribers(channel)) {
    const principal = connection.principal;
    if (principal?.sub !== userId || connection.closed) continue;
    // A token whose globs grant the channel keeps it: membership was not what let it in.
    if (matchesAny(principal.subscribeGlobs, channel)) continue;
    gateway.unsubscribe(connection, channel);
    // A socket is told and stays open; a stream of the thread alone (SSE, AI SDK, AG-UI) ends.
    if (connection.topics) connection.send(unsubscribedFrame(channel, undefined, "forbidden"));
    else connection.close(CloseCode.policyViolation, "forbidden");
  }
}
