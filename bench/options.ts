// Command-line flags of `bun run bench`, each with a BENCH_* environment variable as fallback.

import { resolve } from "node:path";
import { parseArgs } from "node:util";
import type { CapacityOptions } from "./capacity.ts";
import type { ClusterOptions } from "./cluster.ts";
import type { FanoutOptions } from "./fanout.ts";
import type { McpOptions } from "./mcp.ts";
import type { MemoryOptions } from "./memory.ts";
import type { PresenceOptions } from "./presence.ts";
import { RECOVERY_MODES, type RecoveryMode, type RecoveryOptions } from "./recovery.ts";
import type { RunsOptions } from "./runs.ts";
import { ROOT } from "./servers.ts";
import type { SseOptions } from "./sse.ts";
import { STORM_MODES, type StormMode, type StormOptions } from "./storm.ts";

export const SCENARIOS = ["fanout", "memory", "runs", "cluster", "recovery", "sse", "presence", "mcp", "capacity", "storm"] as const;
export type Scenario = (typeof SCENARIOS)[number];
/** What runs without --scenarios: sse (about 3 minutes more), capacity (about 5) and storm (about 2) only when asked for. */
const DEFAULT_SCENARIOS: readonly Scenario[] = ["fanout", "memory", "runs", "cluster", "recovery", "presence", "mcp"];

export interface BenchOptions {
  scenarios: Scenario[];
  fanout: FanoutOptions;
  memory: MemoryOptions;
  runs: RunsOptions;
  cluster: ClusterOptions;
  recovery: RecoveryOptions;
  sse: SseOptions;
  capacity: CapacityOptions;
  storm: StormOptions;
  presence: PresenceOptions;
  mcp: McpOptions;
  /** Checkout whose src/index.ts is measured as agentwire. */
  agentwireRoot: string;
  /** Hard stop for the whole run, so a hung socket can never keep the bench (and its servers) alive. */
  timeoutMs: number;
}

export const usage = `usage: bun run bench [-- flags]

  --scenarios fanout,memory,runs,cluster,recovery,presence,mcp        (BENCH_SCENARIOS)
                              which scenarios to run, in order
                              (cluster and recovery need Redis and
                              PostgreSQL, see --redis-url; sse runs
                              only when named)
  --subscribers 100,1000      fanout: subscriber counts               (BENCH_SUBSCRIBERS)
  --messages auto             fanout, cluster, sse: messages per      (BENCH_MESSAGES)
                              loaded pass; auto is enough for ~1M
                              deliveries (min 1000)
  --window 64                 fanout, cluster, sse: messages in       (BENCH_WINDOW)
                              flight
  --body-bytes 100            fanout, cluster, recovery, sse: body    (BENCH_BODY_BYTES)
                              size
  --samplers 20               fanout, cluster: subscribers measuring  (BENCH_SAMPLERS)
                              latency
  --latency-messages 200      fanout, cluster: messages sent one at a (BENCH_LATENCY_MESSAGES)
                              time
  --rounds 5                  fanout: rounds per server               (BENCH_ROUNDS)
  --connections 3000          memory: idle connections                (BENCH_CONNECTIONS)
  --channels own              memory: own channel each, or shared     (BENCH_CHANNELS)
  --settle-ms 3000            memory, sse: wait before each RSS       (BENCH_SETTLE_MS)
                              reading
  --memory-rounds 3           memory: rounds per server               (BENCH_MEMORY_ROUNDS)
  --runs 50,200               runs: agent runs started at once        (BENCH_RUNS)
                              (1000 is the node-capacity size)
  --token-rate 50             runs: tokens/s the fake model streams   (BENCH_TOKEN_RATE)
                              per run
  --answer-tokens 200         runs: tokens (4 characters) per answer  (BENCH_ANSWER_TOKENS)
  --watchers 2                runs: watching connections per run,     (BENCH_WATCHERS)
                              besides the sender
  --coalesce-ms 25            runs: COALESCE_MS values, one server    (BENCH_COALESCE_MS)
                              each (e.g. 25,0)
  --runs-rounds 2             runs: rounds per run count              (BENCH_RUNS_ROUNDS)
  --cluster-subscribers 1000  cluster: subscriber counts, split over  (BENCH_CLUSTER_SUBSCRIBERS)
                              the nodes
  --cluster-publishers 1      cluster: publishing connections, all on (BENCH_CLUSTER_PUBLISHERS)
                              the first node
  --cluster-rounds 3          cluster: rounds per deployment          (BENCH_CLUSTER_ROUNDS)
  --recovery-modes single,cluster                                     (BENCH_RECOVERY_MODES)
                              recovery: resume on the same node (one
                              node, memory broker) and/or on the other
                              node (two nodes on Redis)
  --recovery-rate 2000        recovery: publications/s, all channels  (BENCH_RECOVERY_RATE)
  --recovery-channels 1       recovery: channels published to         (BENCH_RECOVERY_CHANNELS)
  --recovery-subscribers 20   recovery: subscribers that resume       (BENCH_RECOVERY_SUBSCRIBERS)
  --hold-ms 300               recovery: connected time between        (BENCH_HOLD_MS)
                              resumes (0.5x-1.5x)
  --offline-ms 100            recovery: disconnected time per resume  (BENCH_OFFLINE_MS)
  --phase-s 4                 recovery: length of a steady or a churn (BENCH_PHASE_S)
                              phase
  --recovery-rounds 2         recovery: rounds of steady + churn      (BENCH_RECOVERY_ROUNDS)
  --sse-readers 100,1000      sse: SSE readers, and as many WebSocket (BENCH_SSE_READERS)
                              subscribers, on one server
  --sse-rounds 2              sse: fresh servers per reader count,    (BENCH_SSE_ROUNDS)
                              each with 2 passes of each transport
  --sse-loadgens 2            sse: load-generator processes holding   (BENCH_SSE_LOADGENS)
                              the readers
  --capacity-sizes 2000,10000,19000                                   (BENCH_CAPACITY_SIZES)
                              capacity: idle subscribed connections
                              per server (at most 19,000: 20,000 open
                              files per process)
  --capacity-rounds 3         capacity: paired rounds per size        (BENCH_CAPACITY_ROUNDS)
  --capacity-loadgens 2       capacity: load-generator processes      (BENCH_CAPACITY_LOADGENS)
  --capacity-tokens own       capacity: a user and token per          (BENCH_CAPACITY_TOKENS)
                              connection (own) or one for all
                              (shared)
  --storm-modes single,cluster                                        (BENCH_STORM_MODES)
                              storm: one node (memory broker) and/or
                              two nodes on Redis
  --storm-clients 15000       storm: clients cut at once              (BENCH_STORM_CLIENTS)
  --storm-channels 1500       storm: channels they share              (BENCH_STORM_CHANNELS)
  --storm-rate 1000           storm: publications/s, all channels     (BENCH_STORM_RATE)
  --storm-loadgens 3          storm: load-generator processes (each   (BENCH_STORM_LOADGENS)
                              holds 3 files per client)
  --presence-clients 100000   presence: present clients, in process   (BENCH_PRESENCE_CLIENTS)
  --mcp-calls 2000            mcp: measured calls of each tool per    (BENCH_MCP_CALLS)
                              round (the MCP tools of this checkout,
                              whatever --agentwire-root says)
  --mcp-rounds 3              mcp: rounds                             (BENCH_MCP_ROUNDS)
  --redis-url URL             cluster, recovery: the Redis to use     (BENCH_REDIS_URL)
                              (redis://127.0.0.1:6379); keys go under
                              a fresh prefix, deleted after
  --database-url URL          cluster, recovery: a PostgreSQL         (BENCH_DATABASE_URL)
                              database to connect to, to create (and
                              drop) the bench's own database
                              (postgres://postgres@127.0.0.1:5432/postgres)
  --agentwire-root DIR        checkout to measure (default: this one) (BENCH_AGENTWIRE_ROOT)
  --timeout-s 420             give up (and kill the servers) after    (BENCH_TIMEOUT_S)
                              this
  --help`;

const flags = {
  scenarios: { type: "string" },
  subscribers: { type: "string" },
  messages: { type: "string" },
  window: { type: "string" },
  "body-bytes": { type: "string" },
  samplers: { type: "string" },
  "latency-messages": { type: "string" },
  rounds: { type: "string" },
  connections: { type: "string" },
  channels: { type: "string" },
  "settle-ms": { type: "string" },
  "memory-rounds": { type: "string" },
  runs: { type: "string" },
  "token-rate": { type: "string" },
  "answer-tokens": { type: "string" },
  watchers: { type: "string" },
  "coalesce-ms": { type: "string" },
  "runs-rounds": { type: "string" },
  "cluster-subscribers": { type: "string" },
  "cluster-publishers": { type: "string" },
  "cluster-rounds": { type: "string" },
  "recovery-modes": { type: "string" },
  "recovery-rate": { type: "string" },
  "recovery-channels": { type: "string" },
  "recovery-subscribers": { type: "string" },
  "hold-ms": { type: "string" },
  "offline-ms": { type: "string" },
  "phase-s": { type: "string" },
  "recovery-rounds": { type: "string" },
  "sse-readers": { type: "string" },
  "sse-rounds": { type: "string" },
  "sse-loadgens": { type: "string" },
  "capacity-sizes": { type: "string" },
  "capacity-rounds": { type: "string" },
  "capacity-loadgens": { type: "string" },
  "capacity-tokens": { type: "string" },
  "storm-modes": { type: "string" },
  "storm-clients": { type: "string" },
  "storm-channels": { type: "string" },
  "storm-rate": { type: "string" },
  "storm-loadgens": { type: "string" },
  "presence-clients": { type: "string" },
  "mcp-calls": { type: "string" },
  "mcp-rounds": { type: "string" },
  "redis-url": { type: "string" },
  "database-url": { type: "string" },
  "agentwire-root": { type: "string" },
  "timeout-s": { type: "string" },
  help: { type: "boolean" },
} as const;

export class UsageError extends Error {}

function positiveInteger(name: string, text: string, maximum = Number.MAX_SAFE_INTEGER): number {
  const value = Number(text);
  if (!Number.isInteger(value) || value < 1 || value > maximum) throw new UsageError(`--${name} must be an integer from 1 to ${maximum}, not "${text}"`);
  return value;
}

function nonNegativeInteger(name: string, text: string, maximum = Number.MAX_SAFE_INTEGER): number {
  const value = Number(text);
  if (!Number.isInteger(value) || value < 0 || value > maximum) throw new UsageError(`--${name} must be an integer from 0 to ${maximum}, not "${text}"`);
  return value;
}

function list(text: string): string[] {
  return text.split(",").map((item) => item.trim()).filter((item) => item.length > 0);
}

function oneOf<T extends string>(name: string, values: string[], known: readonly T[]): T[] {
  for (const value of values) {
    if (!(known as readonly string[]).includes(value)) throw new UsageError(`unknown ${name} "${value}"; known: ${known.join(", ")}`);
  }
  return values as T[];
}

/** Parses argv (without the runtime and script); returns undefined when --help was asked. */
export function parseOptions(argv: string[], env: Record<string, string | undefined>): BenchOptions | undefined {
  const { values } = parseArgs({ args: argv, options: flags, strict: true, allowPositionals: false });
  if (values.help) return undefined;
  const get = (name: Exclude<keyof typeof flags, "help">, fallback: string): string => {
    const variable = "BENCH_" + name.toUpperCase().replaceAll("-", "_");
    return values[name] ?? env[variable] ?? fallback;
  };
  const scenarios = oneOf("scenario", list(get("scenarios", DEFAULT_SCENARIOS.join(","))), SCENARIOS);
  const channels = get("channels", "own");
  if (channels !== "own" && channels !== "shared") throw new UsageError(`--channels must be own or shared, not "${channels}"`);
  const capacityTokens = get("capacity-tokens", "own");
  if (capacityTokens !== "own" && capacityTokens !== "shared") throw new UsageError(`--capacity-tokens must be own or shared, not "${capacityTokens}"`);
  const connectBatch = 100;
  const settleMs = positiveInteger("settle-ms", get("settle-ms", "3000"));
  const messages = get("messages", "auto");
  const services = {
    redisUrl: get("redis-url", "redis://127.0.0.1:6379"),
    adminDatabaseUrl: get("database-url", "postgres://postgres@127.0.0.1:5432/postgres"),
  };
  if (!/^rediss?:\/\//.test(services.redisUrl)) throw new UsageError("--redis-url must start with redis://");
  if (!/^postgres(ql)?:\/\//.test(services.adminDatabaseUrl)) throw new UsageError("--database-url must start with postgres://");
  const fanout: FanoutOptions = {
    subscribers: list(get("subscribers", "100,1000")).map((text) => positiveInteger("subscribers", text, 10_000)),
    messages: messages === "auto" ? undefined : positiveInteger("messages", messages),
    rounds: positiveInteger("rounds", get("rounds", "5")),
    // agentwire holds at most 1,024 frames of one connection while an earlier one is handled.
    window: positiveInteger("window", get("window", "64"), 1000),
    bodyBytes: positiveInteger("body-bytes", get("body-bytes", "100"), 512 * 1024),
    samplers: positiveInteger("samplers", get("samplers", "20")),
    latencyMessages: nonNegativeInteger("latency-messages", get("latency-messages", "200")),
    connectBatch,
    roundTimeoutMs: 30_000,
  };
  return {
    scenarios,
    agentwireRoot: resolve(get("agentwire-root", ROOT)),
    timeoutMs: positiveInteger("timeout-s", get("timeout-s", "420")) * 1000,
    fanout,
    presence: { clients: positiveInteger("presence-clients", get("presence-clients", "100000"), 2_000_000), rounds: 3 },
    memory: {
      connections: positiveInteger("connections", get("connections", "3000"), 15_000),
      rounds: positiveInteger("memory-rounds", get("memory-rounds", "3")),
      channels,
      warmupConnections: 100,
      settleMs,
      connectBatch,
    },
    runs: {
      // The server is started with BUN_CONFIG_MAX_HTTP_REQUESTS above the run count (bench/runs.ts), else Bun's fetch holds 256.
      runs: list(get("runs", "50,200")).map((text) => positiveInteger("runs", text, 2000)),
      tokensPerSecond: positiveInteger("token-rate", get("token-rate", "50"), 1000),
      answerTokens: positiveInteger("answer-tokens", get("answer-tokens", "200"), 100_000),
      watchers: nonNegativeInteger("watchers", get("watchers", "2"), 20),
      coalesceMs: list(get("coalesce-ms", "25")).map((text) => nonNegativeInteger("coalesce-ms", text, 1000)),
      rounds: positiveInteger("runs-rounds", get("runs-rounds", "2")),
      connectBatch,
    },
    cluster: {
      ...fanout,
      subscribers: list(get("cluster-subscribers", "1000")).map((text) => positiveInteger("cluster-subscribers", text, 5_000)),
      publishers: positiveInteger("cluster-publishers", get("cluster-publishers", "1"), 100),
      rounds: positiveInteger("cluster-rounds", get("cluster-rounds", "3")),
      services,
    },
    recovery: {
      modes: oneOf<RecoveryMode>("recovery mode", list(get("recovery-modes", RECOVERY_MODES.join(","))), RECOVERY_MODES),
      ratePerSecond: positiveInteger("recovery-rate", get("recovery-rate", "2000"), 100_000),
      channels: positiveInteger("recovery-channels", get("recovery-channels", "1"), 1000),
      subscribers: positiveInteger("recovery-subscribers", get("recovery-subscribers", "20"), 5000),
      holdMs: positiveInteger("hold-ms", get("hold-ms", "300"), 60_000),
      offlineMs: nonNegativeInteger("offline-ms", get("offline-ms", "100"), 60_000),
      phaseSeconds: positiveInteger("phase-s", get("phase-s", "4"), 600),
      rounds: positiveInteger("recovery-rounds", get("recovery-rounds", "2")),
      bodyBytes: fanout.bodyBytes,
      services,
    },
    sse: sseOptions(get, fanout, settleMs, connectBatch),
    capacity: {
      sizes: list(get("capacity-sizes", "2000,10000,19000")).map((text) => positiveInteger("capacity-sizes", text, 19_000)),
      rounds: positiveInteger("capacity-rounds", get("capacity-rounds", "3")),
      loadgens: positiveInteger("capacity-loadgens", get("capacity-loadgens", "2"), 16),
      inFlight: connectBatch,
      tokens: capacityTokens,
      warmupConnections: 100,
      settleMs: Math.min(settleMs, 2000),
      idleMs: 5000,
    },
    storm: {
      modes: oneOf<StormMode>("storm mode", list(get("storm-modes", STORM_MODES.join(","))), STORM_MODES),
      clients: positiveInteger("storm-clients", get("storm-clients", "15000"), 18_000),
      channels: positiveInteger("storm-channels", get("storm-channels", "1500"), 100_000),
      ratePerSecond: positiveInteger("storm-rate", get("storm-rate", "1000"), 100_000),
      loadgens: positiveInteger("storm-loadgens", get("storm-loadgens", "3"), 16),
      steadyMs: 3000,
      recoveryTimeoutMs: 60_000,
      bodyBytes: fanout.bodyBytes,
      services,
    },
    mcp: {
      calls: positiveInteger("mcp-calls", get("mcp-calls", "2000"), 1_000_000),
      rounds: positiveInteger("mcp-rounds", get("mcp-rounds", "3"), 100),
    },
  };
}

function sseOptions(get: (name: "sse-readers" | "sse-rounds" | "sse-loadgens", fallback: string) => string, fanout: FanoutOptions, settleMs: number, connectBatch: number): SseOptions {
  const loadgens = positiveInteger("sse-loadgens", get("sse-loadgens", "2"), 16);
  // Every load generator must hold readers of each kind: each reports when all of its own have a seq.
  const readers = list(get("sse-readers", "100,1000")).map((text) => positiveInteger("sse-readers", text, 5_000));
  const fewest = Math.min(...readers);
  if (fewest < loadgens) throw new UsageError(`--sse-readers ${fewest} is fewer than --sse-loadgens ${loadgens}`);
  return {
    readers,
    rounds: positiveInteger("sse-rounds", get("sse-rounds", "2")),
    loadgens,
    messages: fanout.messages,
    window: fanout.window,
    bodyBytes: fanout.bodyBytes,
    warmupReaders: 50,
    settleMs,
    connectBatch,
    passTimeoutMs: 60_000,
  };
}
