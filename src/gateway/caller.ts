// The agent's view of a session that sent a `chat` frame: its user, and how its connection follows the
// thread of a run it starts (docs/protocol.md section 6.1).

import type { Caller } from "../agent/caller.ts";
import { ErrorCode, ProtocolError } from "../protocol/index.ts";
import type { Gateway } from "./gateway.ts";
import type { Session } from "./session.ts";

export type { Caller };

/** The caller behind an authenticated session. */
export function callerOf(gateway: Gateway, session: Session): Caller {
  const { maxSubscriptions } = gateway.config;
  return {
    userId: session.principal!.sub,
    connection: {
      checkJoin(channel) {
        // The thread's channel counts toward MAX_SUBSCRIPTIONS like any other the connection holds.
        if (!session.isSubscribed(channel) && session.subscriptionCount >= maxSubscriptions) {
          throw new ProtocolError(ErrorCode.tooManySubscriptions, `at most ${maxSubscriptions} subscriptions per connection, the thread's included`);
        }
      },
      async join(channel) {
        // A connection already on the thread stays on it as it is: subscribing again would start it over
        // from the current seq and could skip an event still on its way to it.
        if (!session.isSubscribed(channel)) await gateway.subscribe(session, channel, {});
      },
    },
  };
}
