// A Gateway built in the test process, without a server, and connections it writes to itself: for
// checking the gateway's own bookkeeping (listens, revocations) where sockets would only add timing.

import { principalOf } from "../../src/auth/principal.ts";
import { createTokenService } from "../../src/auth/tokens.ts";
import type { Broker } from "../../src/broker/broker.ts";
import { MemoryPresence } from "../../src/broker/memory-presence.ts";
import type { Connection } from "../../src/gateway/connection.ts";
import { Gateway, type GatewayDeps } from "../../src/gateway/gateway.ts";
import { webSocketWire } from "../../src/gateway/session.ts";
import { createLogger } from "../../src/observability/log.ts";
import { Registry, createGatewayMetrics } from "../../src/observability/metrics.ts";

/** A gateway on `broker`, a tick every 25 ms; `deps` replace the defaults (no thread access at all). */
export function directGateway(broker: Broker, deps: Partial<GatewayDeps> = {}): Gateway {
  return new Gateway({
    config: {
      rateLimitPerS: 1000,
      rateLimitBurst: 1000,
      rateLimitCloseAfterS: 10,
      maxConnectionsPerUser: 10,
      publishBytesPerS: 1_000_000,
      publishBurstBytes: 1_000_000,
      maxSubscriptions: 10,
      maxQueuedBytes: 1_000_000,
      // A tick every 25 ms.
      pingIntervalS: 0.1,
      idleTimeoutS: 60,
      authTimeoutS: 10,
    },
    broker,
    tokens: createTokenService("direct-gateway-secret-0123456789"),
    threadAccess: async () => undefined,
    presence: new MemoryPresence(),
    fanout: { publish: () => 0 },
    logger: createLogger("silent"),
    metrics: createGatewayMetrics(new Registry()),
    ...deps,
  });
}

/** A connection the gateway writes to itself, of user `sub`: enough to subscribe and unsubscribe. */
export function directConnection(id: string, sub = "lin"): Connection {
  const held = new Set<string>();
  return {
    id,
    principal: principalOf({ sub }),
    closed: false,
    slot: -1,
    expiresAt: Number.POSITIVE_INFINITY,
    wire: webSocketWire,
    topics: undefined,
    send: () => {},
    close: () => {},
    bufferedAmount: () => 0,
    keepAlive: () => {},
    isSubscribed: (channel) => held.has(channel),
    addChannel: (channel) => void held.add(channel),
    removeChannel: (channel) => held.delete(channel),
    channels: () => [...held],
  };
}
