// HTTP routes beside the socket: health, readiness, metrics and POST /publish.

import { Elysia } from "elysia";
import { canPublish } from "../auth/principal.ts";
import type { TokenService } from "../auth/tokens.ts";
import type { Broker } from "../broker/broker.ts";
import type { Config } from "../config.ts";
import type { Gateway } from "../gateway/gateway.ts";
import type { Logger } from "../observability/log.ts";
import type { Registry } from "../observability/metrics.ts";
import { ErrorCode, ProtocolError, PublishBody } from "../protocol/index.ts";
import type { Storage } from "../storage/storage.ts";
import { requirePrincipal } from "./auth.ts";
import { httpError } from "./errors.ts";
import { bodyMatching, jsonRequestBody, readJsonBody } from "./json-body.ts";

export interface RouteDeps {
  config: Pick<Config, "maxFrameBytes" | "maxBodyBytes">;
  tokens: TokenService;
  gateway: Gateway;
  broker: Broker;
  storage: Storage;
  registry: Registry;
  logger: Logger;
}

export function systemRoutes({ config, tokens, gateway, broker, storage, registry, logger }: RouteDeps) {
  // A publication over HTTP obeys the socket's frame limit (docs/protocol.md section 5.2).
  const maxPublishBytes = Math.min(config.maxFrameBytes, config.maxBodyBytes);
  return new Elysia({ name: "system-routes" })
    .get("/healthz", () => ({ status: "ok" }))
    .get("/readyz", async () => {
      const problems: string[] = [];
      await storage.ping().catch((error) => {
        logger.warn("storage not ready", { error });
        problems.push("storage");
      });
      const brokerReady = await broker.ready().catch(() => false);
      if (!brokerReady) problems.push("broker");
      if (problems.length > 0) {
        return httpError(new ProtocolError(ErrorCode.unavailable, `not ready: ${problems.join(", ")} unreachable`));
      }
      return { status: "ready" };
    })
    .get(
      "/metrics",
      () => new Response(registry.render(), { headers: { "content-type": "text/plain; version=0.0.4; charset=utf-8" } }),
    )
    .post(
      "/publish",
      async ({ request }) => {
        const principal = await requirePrincipal(tokens, request.headers.get("authorization"));
        const body = await readJsonBody(request, { maxBytes: maxPublishBytes });
        const { channel, payload } = bodyMatching(PublishBody, body, "body must be {channel, payload} with a JSON object payload");
        if (!canPublish(principal, channel)) throw new ProtocolError(ErrorCode.forbidden, `no publish permission on channel ${channel}`);
        const text = JSON.stringify(payload);
        // The user's byte budget across HTTP publishes, as each socket has its own (docs/protocol.md section 8.3).
        gateway.takePublishBytes(principal.sub, Buffer.byteLength(text));
        const publication = await gateway.publish(channel, text);
        return { channel, seq: publication.seq };
      },
      {
        // The body is read by readJsonBody once the caller is known, never by Elysia before.
        parse: "none",
        detail: {
          summary: "Publish to a channel, like the socket's publish frame",
          security: [{ bearerAuth: [] }],
          requestBody: jsonRequestBody(PublishBody),
        },
      },
    );
}
