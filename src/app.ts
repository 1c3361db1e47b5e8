// The composition root: builds storage, broker, gateway and routes from the config, and owns their lifecycle.

import { join } from "node:path";
import { openapi } from "@elysiajs/openapi";
import { Elysia } from "elysia";
import { AgentService } from "./agent/agent-service.ts";
import { createDemoModel } from "./agent/model/demo-model.ts";
import type { ModelClient } from "./agent/model/model-client.ts";
import { createOpenAIModel } from "./agent/model/openai-model.ts";
import { configuredToolRegistry, type ToolRegistry } from "./agent/tools/registry.ts";
import type { Server } from "bun";
import { loadSecret } from "./auth/secret.ts";
import { createTokenService, type TokenService } from "./auth/tokens.ts";
import type { Broker } from "./broker/broker.ts";
import { LocalControlBus, type ControlBus } from "./broker/control-bus.ts";
import { RedisBroker } from "./broker/redis-broker.ts";
import { RedisControlBus } from "./broker/redis-control-bus.ts";
import { MemoryBroker } from "./broker/memory-broker.ts";
import { MemoryPresence } from "./broker/memory-presence.ts";
import type { Presence } from "./broker/presence.ts";
import { RedisPresence } from "./broker/redis-presence.ts";
import type { Config } from "./config.ts";
import { Gateway } from "./gateway/gateway.ts";
import { bodyLimit } from "./http/body-limit.ts";
import { errorResponse } from "./http/errors.ts";
import { systemRoutes } from "./http/routes.ts";
import { memberRoutes } from "./http/member-routes.ts";
import { presenceRoutes } from "./http/presence-routes.ts";
import { runRoutes } from "./http/run-routes.ts";
import { threadRoutes } from "./http/thread-routes.ts";
import { toolRoutes } from "./http/tool-routes.ts";
import { agUiRoutes } from "./transport/ag-ui/ag-ui-routes.ts";
import { aiSdkRoutes, UiStreams } from "./transport/ai-sdk/ai-sdk-routes.ts";
import { aiSdkWsUpgrade } from "./transport/ai-sdk/ai-sdk-ws.ts";
import { sseRoutes } from "./transport/sse/sse-routes.ts";
import { socketEvents, wsUpgrade } from "./transport/websocket/ws-route.ts";
import chatPage from "./web/index.html";
import { chatPageRoutes } from "./web/page-routes.ts";
import { createLogger, type Logger } from "./observability/log.ts";
import { Registry, createGatewayMetrics } from "./observability/metrics.ts";
import { ErrorCode, ProtocolError } from "./protocol/index.ts";
import { PostgresStorage } from "./storage/postgres/postgres-storage.ts";
import { guardStorage } from "./storage/guarded-storage.ts";
import { SqliteStorage } from "./storage/sqlite/sqlite-storage.ts";
import type { Storage } from "./storage/storage.ts";

export interface AppParts {
  logger?: Logger;
  storage?: Storage;
  broker?: Broker;
  model?: ModelClient;
  controlBus?: ControlBus;
  presence?: Presence;
}

export interface App {
  readonly config: Config;
  readonly port: number;
  /** http://host:port */
  readonly url: string;
  readonly tokens: TokenService;
  readonly secretGenerated: boolean;
  readonly storage: Storage;
  readonly broker: Broker;
  readonly presence: Presence;
  readonly gateway: Gateway;
  readonly agent: AgentService;
  readonly model: ModelClient;
  readonly tools: ToolRegistry;
  readonly logger: Logger;
  /** Graceful stop: `shutdown` frame and close 1001 to every client, then broker and database closed. */
  stop(): Promise<void>;
}

export async function openStorage(config: Config): Promise<Storage> {
  if (config.databaseUrl) return PostgresStorage.open(config.databaseUrl);
  return SqliteStorage.open(join(config.dataDir, "agentwire.db"));
}

/** The configured provider, or the built-in demo model when none is configured. */
export function createModel(config: Config, logger: Logger): ModelClient {
  if (!config.openaiApiKey && !config.openaiBaseUrl) return createDemoModel();
  return createOpenAIModel({
    baseURL: config.openaiBaseUrl,
    apiKey: config.openaiApiKey,
    model: config.agentModel,
    maxRetries: config.modelMaxRetries,
    retryBaseMs: config.modelRetryBaseMs,
    requestTimeoutMs: config.modelTimeoutS * 1000,
    logger,
  });
}

/** The broker and the control bus: Redis shared by every node, or in memory for a single node. */
export async function openEngine(config: Config, nodeId: string, logger: Logger): Promise<{ broker: Broker; controlBus: ControlBus; presence: Presence }> {
  if (config.redisUrl) {
    const broker = await RedisBroker.connect({
      url: config.redisUrl,
      prefix: config.redisPrefix,
      historySize: config.historySize,
      historyTtlS: config.historyTtlS,
      historyMaxBytes: config.historyMaxBytes,
      historyChannelMaxBytes: config.historyChannelMaxBytes,
      logger,
    });
    const controlBus = await RedisControlBus.connect({ nodeId, prefix: config.redisPrefix, broker, logger });
    const presence = await RedisPresence.open({
      nodeId,
      prefix: config.redisPrefix,
      commands: broker.commands,
      subscriber: broker.subscriber,
      logger,
      nodeTtlMs: config.presenceNodeTtlS * 1000,
    });
    return { broker, controlBus, presence };
  }
  const broker = new MemoryBroker({
    historySize: config.historySize,
    historyTtlS: config.historyTtlS,
    historyMaxBytes: config.historyMaxBytes,
    historyChannelMaxBytes: config.historyChannelMaxBytes,
    historyMaxChannels: config.historyMaxChannels,
  });
  return { broker, controlBus: new LocalControlBus(nodeId), presence: new MemoryPresence() };
}

/** How long a stop waits for ended streams to flush before it cuts every connection. */
const STREAM_FLUSH_MS = 1000;
/** How long start-up waits for the MCP servers' first start, so the first runs see their tools; slower ones join later. */
const TOOL_SOURCES_START_MS = 10_000;

export async function startApp(config: Config, parts: AppParts = {}): Promise<App> {
  const logger = parts.logger ?? createLogger(config.logLevel);
  const nodeId = crypto.randomUUID();
  const { secret, generated } = loadSecret(config.jwtSecret, config.dataDir);
  const tokens = createTokenService(secret);
  // Every use of storage goes through the guard: a database out of reach reaches clients as `unavailable`.
  const storage = guardStorage(parts.storage ?? (await openStorage(config)));
  const { broker, controlBus, presence } = parts.broker
    ? { broker: parts.broker, controlBus: parts.controlBus ?? new LocalControlBus(nodeId), presence: parts.presence ?? new MemoryPresence() }
    : await openEngine(config, nodeId, logger);
  // A node alone runs every run there is, so whatever storage holds unfinished was cut off by its
  // previous process; among several nodes a run may still be going on elsewhere: reaped by lease expiry (below).
  if (controlBus.singleNode) {
    const interrupted = await storage.interruptUnfinished();
    if (interrupted > 0) logger.warn("marked messages cut off by a previous stop as interrupted", { count: interrupted });
  }

  const registry = new Registry();
  const metrics = createGatewayMetrics(registry);
  const model = parts.model ?? createModel(config, logger);
  if (model.name === "demo") {
    logger.warn("no model provider configured: runs use the built-in demo model. Set OPENAI_API_KEY (and OPENAI_BASE_URL, AGENT_MODEL for other providers) to use a real one");
  }
  // Run events count as publications, as those of clients do in Gateway.publish.
  const publish = (channel: string, payload: string) => {
    metrics.publications.inc();
    return broker.publish(channel, payload);
  };
  const tools = configuredToolRegistry(config, logger);
  await Promise.race([tools.start(), Bun.sleep(TOOL_SOURCES_START_MS)]);
  registry.gauge("agentwire_tool_source_up", "1 while a tool source (the built-in tools, an MCP server) is ready, by source, kind and state", () =>
    tools.sources.map((source) => {
      const { state } = source.health();
      return { labels: { source: source.name, kind: source.kind, state }, value: state === "ready" ? 1 : 0 };
    }),
  );
  registry.gauge("agentwire_tool_source_restarts", "Restarts of a tool source after it went down", () =>
    tools.sources.map((source) => ({ labels: { source: source.name }, value: source.health().restarts })),
  );
  registry.gauge("agentwire_tool_source_tools", "Tools a source offers to the model", () =>
    tools.sources.map((source) => ({ labels: { source: source.name }, value: source.tools().length })),
  );
  const agent = new AgentService({ config, storage, model, tools, logger, controlBus, publish, presence });
  let server: Server<unknown> | undefined;
  const gateway = new Gateway({
    config,
    broker,
    tokens,
    presence,
    threadAccess: async (threadId, userId) => {
      try {
        return await storage.threadRole(threadId, userId);
      } catch (error) {
        throw new ProtocolError(ErrorCode.unavailable, "storage is unavailable; retry later", undefined, { cause: error });
      }
    },
    fanout: { publish: (topic, text) => server?.publish(topic, text) ?? 0 },
    logger,
    metrics,
    chat: agent,
  });
  controlBus.onNotice((notice) => gateway.revokeThread(notice.threadId, notice.userId));
  if (!controlBus.singleNode) await agent.leases.reap();
  const uiStreams = new UiStreams(gateway);

  const elysia = new Elysia({
    serve: {
      // The chat page is bundled by Bun from its HTML import (at build time in the compiled binary)
      // and served with its security headers (web/page-routes.ts). Production mode: no dev error pages.
      development: false,
      routes: { ...(await chatPageRoutes(chatPage)), "/ws": wsUpgrade(gateway, tokens), "/ai-sdk/ws": aiSdkWsUpgrade({ tokens, agent, broker, storage, streams: uiStreams, handle: (request: Request): Promise<Response> => elysia.handle(request) }) },
      // Our own cap (http/body-limit.ts) answers a Content-Length over MAX_BODY_BYTES with a JSON 413
      // without reading the body; Bun's, far higher, is the backstop for anything that would read one
      // (a body above it gets Bun's bare 413 and a closed connection).
      maxRequestBodySize: Math.max(4 * config.maxBodyBytes, 64 * 1024 * 1024),
    },
    websocket: {
      maxPayloadLength: config.maxFrameBytes,
      // Our own check closes a slow consumer with 1013 at MAX_QUEUED_BYTES; Bun's limit, a little higher,
      // is the backstop that keeps memory bounded should a burst outrun the check.
      backpressureLimit: config.maxQueuedBytes + 2 * config.maxFrameBytes + 64 * 1024,
      closeOnBackpressureLimit: true,
      // Idle closes and pings are the gateway's, at the configured intervals.
      idleTimeout: 0,
      sendPings: false,
      perMessageDeflate: false,
    },
  })
    .onError(({ code, error }) => errorResponse(code, error, logger))
    .use(bodyLimit(config.maxBodyBytes))
    .use(
      openapi({
        path: "/openapi",
        documentation: {
          info: { title: "agentwire", version: "1", description: "REST beside the agentwire WebSocket; see docs/protocol.md" },
          components: { securitySchemes: { bearerAuth: { type: "http", scheme: "bearer", bearerFormat: "JWT" } } },
        },
      }),
    )
    .use(systemRoutes({ config, tokens, gateway, broker, storage, registry, logger }))
    .use(threadRoutes({ config, tokens, storage, broker, agent }))
    .use(runRoutes({ config, tokens, storage, agent }))
    .use(memberRoutes({ config, tokens, storage, controlBus, notices: agent.notices }))
    .use(toolRoutes({ tokens, tools, approvals: agent.approvals }))
    .use(sseRoutes({ gateway, tokens }))
    .use(presenceRoutes({ gateway, tokens }))
    .use(aiSdkRoutes({ config, gateway, streams: uiStreams, tokens, storage, broker, agent }))
    .use(agUiRoutes({ config, gateway, tokens, storage, broker, agent }));

  // The socket events given here replace Elysia's own handlers (see ws-route.ts), so an Elysia `.ws()`
  // route would not work beside them.
  elysia.listen({ port: config.port, hostname: config.host, websocket: socketEvents });
  server = elysia.server as Server<unknown>;
  const port = server.port!;
  const displayHost = config.host === "0.0.0.0" || config.host === "::" ? "localhost" : config.host;
  const url = `http://${displayHost}:${port}`;
  logger.info("agentwire listening", { url, ws: `ws://${displayHost}:${port}/ws`, storage: storage.dialect, broker: config.redisUrl ? "redis" : "memory", node: nodeId, model: model.name });

  let stopping: Promise<void> | undefined;
  const stop = () =>
    (stopping ??= (async () => {
      logger.info("shutting down", { connections: gateway.connectionCount, runs: agent.activeRuns });
      gateway.shutdown();
      // The streams just ended (SSE) have yet to write their last bytes and the body's end: responses
      // in flight get a bounded moment to finish cleanly before whatever is left is cut.
      await Promise.race([server?.stop(false), Bun.sleep(STREAM_FLUSH_MS)]);
      await elysia.stop(true);
      // Runs go on storing (and publishing for other nodes) for the grace period; the rest end interrupted.
      await agent.shutdown(config.shutdownGraceS * 1000);
      await tools.close();
      await controlBus.close();
      await presence.close();
      await broker.close();
      await storage.close();
      logger.info("stopped");
    })());

  return { config, port, url, tokens, secretGenerated: generated, storage, broker, presence, gateway, agent, model, tools, logger, stop };
}
