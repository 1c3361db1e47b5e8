// Configuration: parsed once from environment variables and CLI flags, every problem reported together.

import { Type, type Static, type TSchema } from "@sinclair/typebox";
import { Value } from "@sinclair/typebox/value";
import { loadMcpConfig, type McpServerConfig } from "./agent/tools/mcp/mcp-config.ts";

const Int = (minimum: number, maximum = Number.MAX_SAFE_INTEGER) => Type.Integer({ minimum, maximum });
const Seconds = (minimum: number) => Type.Number({ minimum, maximum: 86_400 * 365 });

/** Every setting: its environment variable, its schema and its default. */
const settings = {
  port: { env: "PORT", schema: Int(0, 65535), default: 8080 },
  host: { env: "HOST", schema: Type.String({ minLength: 1 }), default: "0.0.0.0" },
  jwtSecret: { env: "JWT_SECRET", schema: Type.Optional(Type.String({ minLength: 16 })), default: undefined },
  dataDir: { env: "DATA_DIR", schema: Type.String({ minLength: 1 }), default: "./data" },
  databaseUrl: { env: "DATABASE_URL", schema: Type.Optional(Type.String({ pattern: "^postgres(ql)?://" })), default: undefined },
  redisUrl: { env: "REDIS_URL", schema: Type.Optional(Type.String({ pattern: "^rediss?://" })), default: undefined },
  redisPrefix: { env: "REDIS_PREFIX", schema: Type.String({ minLength: 1, maxLength: 64 }), default: "agentwire:" },
  openaiBaseUrl: { env: "OPENAI_BASE_URL", schema: Type.Optional(Type.String({ pattern: "^https?://" })), default: undefined },
  openaiApiKey: { env: "OPENAI_API_KEY", schema: Type.Optional(Type.String()), default: undefined },
  agentModel: { env: "AGENT_MODEL", schema: Type.String({ minLength: 1 }), default: "gpt-4o-mini" },
  systemPrompt: {
    env: "SYSTEM_PROMPT",
    schema: Type.String(),
    default: "You are a helpful assistant. Use the tools when they help; be concise.",
  },
  // Globs over tool names (`fs__*`), as the MCP tools are `<server>__<tool>`.
  toolsRequireApproval: { env: "TOOLS_REQUIRE_APPROVAL", schema: Type.Array(Type.String({ minLength: 1 })), default: [] as string[] },
  toolsAutoApprove: { env: "TOOLS_AUTO_APPROVE", schema: Type.Array(Type.String({ minLength: 1 })), default: [] as string[] },
  // The longest tool argument text and tool result (or error) in characters, for every tool: a longer result is cut.
  toolMaxChars: { env: "TOOL_MAX_CHARS", schema: Int(1000, 10_000_000), default: 100_000 },
  mcpConfig: { env: "MCP_CONFIG", schema: Type.Optional(Type.String({ minLength: 1 })), default: undefined },
  mcpToolTimeoutS: { env: "MCP_TOOL_TIMEOUT_S", schema: Seconds(0.01), default: 60 },
  // The largest message held from an MCP server (stdio or HTTP); a longer tool result is cut as it is read, never held whole.
  mcpMaxMessageBytes: { env: "MCP_MAX_MESSAGE_BYTES", schema: Int(64 * 1024, 256 * 1024 * 1024), default: 4 * 1024 * 1024 },
  mcpRestartBaseMs: { env: "MCP_RESTART_BASE_MS", schema: Int(1, 60_000), default: 500 },
  approvalTimeoutS: { env: "APPROVAL_TIMEOUT_S", schema: Seconds(0.01), default: 600 },
  maxToolRounds: { env: "MAX_TOOL_ROUNDS", schema: Int(0, 100), default: 8 },
  runTimeoutS: { env: "RUN_TIMEOUT_S", schema: Seconds(0.1), default: 900 },
  maxRunsPerUser: { env: "MAX_RUNS_PER_USER", schema: Int(1), default: 4 },
  coalesceMs: { env: "COALESCE_MS", schema: Int(0, 1000), default: 25 },
  checkpointMs: { env: "CHECKPOINT_MS", schema: Int(10, 60_000), default: 1000 },
  historyBudgetChars: { env: "HISTORY_BUDGET_CHARS", schema: Int(0), default: 32_000 },
  leaseTtlS: { env: "LEASE_TTL_S", schema: Seconds(0.3), default: 15 },
  // How long a node that stopped heartbeating keeps its present clients on the Redis engine (docs/protocol.md section 14).
  presenceNodeTtlS: { env: "PRESENCE_NODE_TTL_S", schema: Seconds(0.3), default: 15 },
  modelTimeoutS: { env: "MODEL_TIMEOUT_S", schema: Seconds(0.1), default: 300 },
  modelMaxRetries: { env: "MODEL_MAX_RETRIES", schema: Int(0, 10), default: 3 },
  modelRetryBaseMs: { env: "MODEL_RETRY_BASE_MS", schema: Int(0, 60_000), default: 500 },
  historySize: { env: "HISTORY_SIZE", schema: Int(0, 1_000_000), default: 1000 },
  historyTtlS: { env: "HISTORY_TTL_S", schema: Seconds(1), default: 86_400 },
  historyMaxBytes: { env: "HISTORY_MAX_BYTES", schema: Int(0), default: 256 * 1024 * 1024 },
  historyMaxChannels: { env: "HISTORY_MAX_CHANNELS", schema: Int(1), default: 100_000 },
  maxFrameBytes: { env: "MAX_FRAME_BYTES", schema: Int(1024, 64 * 1024 * 1024), default: 1024 * 1024 },
  // Unset: MAX_FRAME_BYTES plus room for an HTTP envelope around a frame-sized payload (see parseConfig).
  maxBodyBytes: { env: "MAX_BODY_BYTES", schema: Type.Optional(Int(1024, 256 * 1024 * 1024)), default: undefined },
  historyChannelMaxBytes: { env: "HISTORY_CHANNEL_MAX_BYTES", schema: Int(0), default: 16 * 1024 * 1024 },
  maxConnectionsPerUser: { env: "MAX_CONNECTIONS_PER_USER", schema: Int(1), default: 100 },
  publishBytesPerS: { env: "PUBLISH_BYTES_PER_S", schema: Int(1024), default: 4 * 1024 * 1024 },
  publishBurstBytes: { env: "PUBLISH_BURST_BYTES", schema: Int(1024), default: 8 * 1024 * 1024 },
  rateLimitPerS: { env: "RATE_LIMIT_PER_S", schema: Type.Number({ exclusiveMinimum: 0 }), default: 1000 },
  rateLimitBurst: { env: "RATE_LIMIT_BURST", schema: Int(1), default: 2000 },
  rateLimitCloseAfterS: { env: "RATE_LIMIT_CLOSE_AFTER_S", schema: Seconds(0.1), default: 10 },
  maxSubscriptions: { env: "MAX_SUBSCRIPTIONS", schema: Int(1), default: 100 },
  maxQueuedBytes: { env: "MAX_QUEUED_BYTES", schema: Int(1024), default: 4 * 1024 * 1024 },
  pingIntervalS: { env: "PING_INTERVAL_S", schema: Seconds(0.05), default: 30 },
  idleTimeoutS: { env: "IDLE_TIMEOUT_S", schema: Seconds(0.1), default: 120 },
  authTimeoutS: { env: "AUTH_TIMEOUT_S", schema: Seconds(0.05), default: 10 },
  shutdownGraceS: { env: "SHUTDOWN_GRACE_S", schema: Seconds(0), default: 10 },
  logLevel: { env: "LOG_LEVEL", schema: Type.Union(["debug", "info", "warn", "error", "silent"].map((l) => Type.Literal(l))), default: "info" },
} satisfies Record<string, { env: string; schema: TSchema; default: unknown }>;

type Settings = typeof settings;
export type Config = Omit<{ [K in keyof Settings]: Static<Settings[K]["schema"]> }, "maxBodyBytes"> & {
  logLevel: "debug" | "info" | "warn" | "error" | "silent";
  /** Always set after parsing: MAX_BODY_BYTES, or MAX_FRAME_BYTES plus 64 KiB. */
  maxBodyBytes: number;
  /** The servers of the MCP_CONFIG file, none without one. */
  mcpServers: McpServerConfig[];
};

/** Room a request body gets beyond MAX_FRAME_BYTES when MAX_BODY_BYTES is unset. */
export const BODY_ENVELOPE_BYTES = 64 * 1024;

export class ConfigError extends Error {
  override readonly name = "ConfigError";
  constructor(readonly problems: string[]) {
    super("invalid configuration:\n  " + problems.join("\n  "));
  }
}

function coerce(schema: TSchema, raw: string): unknown {
  if (schema.type === "array") return raw.split(",").map((item) => item.trim()).filter((item) => item.length > 0);
  if (schema.type === "integer" || schema.type === "number") return raw.trim() === "" ? Number.NaN : Number(raw);
  return raw;
}

/**
 * Build the config from environment variables, with `flags` (keyed by variable name) taking precedence.
 * Throws one ConfigError that names every bad variable.
 */
export function parseConfig(env: Record<string, string | undefined>, flags: Record<string, string> = {}): Config {
  const problems: string[] = [];
  const config: Record<string, unknown> = {};
  for (const [key, setting] of Object.entries(settings)) {
    const raw = flags[setting.env] ?? env[setting.env];
    if (raw === undefined || (raw === "" && setting.default === undefined)) {
      config[key] = setting.default;
      continue;
    }
    const value = coerce(setting.schema, raw);
    if (!Value.Check(setting.schema, value)) {
      const error = Value.Errors(setting.schema, value).First();
      problems.push(`${setting.env}=${describe(setting.env, raw)}: ${error?.message ?? "invalid value"}`);
      continue;
    }
    config[key] = value;
  }
  const parsed = config as Config;
  parsed.mcpServers = [];
  if (parsed.mcpConfig !== undefined) {
    const mcp = loadMcpConfig(parsed.mcpConfig);
    parsed.mcpServers = mcp.servers;
    problems.push(...mcp.problems);
  }
  if (problems.length === 0) {
    parsed.maxBodyBytes ??= parsed.maxFrameBytes + BODY_ENVELOPE_BYTES;
    if (parsed.idleTimeoutS <= parsed.pingIntervalS) {
      problems.push(`IDLE_TIMEOUT_S (${parsed.idleTimeoutS}) must be longer than PING_INTERVAL_S (${parsed.pingIntervalS})`);
    }
  }
  if (problems.length > 0) throw new ConfigError(problems);
  return parsed;
}

// Secrets are never echoed back, not even in a config error.
function describe(variable: string, raw: string): string {
  return /SECRET|KEY|PASSWORD|TOKEN|_URL$/.test(variable) ? "<hidden>" : JSON.stringify(raw);
}
