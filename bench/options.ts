// Command-line flags of `bun run bench`, each with a BENCH_* environment variable as fallback.

import { resolve } from "node:path";
import { parseArgs } from "node:util";
import type { FanoutOptions } from "./fanout.ts";
import type { MemoryOptions } from "./memory.ts";
import { ROOT } from "./servers.ts";

export const SCENARIOS = ["fanout", "memory"] as const;
export type Scenario = (typeof SCENARIOS)[number];

export interface BenchOptions {
  scenarios: Scenario[];
  fanout: FanoutOptions;
  memory: MemoryOptions;
  /** Checkout whose src/index.ts is measured as agentwire. */
  agentwireRoot: string;
  /** Hard stop for the whole run, so a hung socket can never keep the bench (and its servers) alive. */
  timeoutMs: number;
}

export const usage = `usage: bun run bench [-- flags]

  --scenarios fanout,memory   which scenarios to run, in order        (BENCH_SCENARIOS)
  --subscribers 100,1000      fanout: subscriber counts               (BENCH_SUBSCRIBERS)
  --messages auto             fanout: messages per loaded pass; auto  (BENCH_MESSAGES)
                              is enough for ~1M deliveries (min 1000)
  --window 64                 fanout: messages in flight at most      (BENCH_WINDOW)
  --body-bytes 100            fanout: size of the message body        (BENCH_BODY_BYTES)
  --samplers 20               fanout: subscribers measuring latency   (BENCH_SAMPLERS)
  --latency-messages 200      fanout: messages sent one at a time     (BENCH_LATENCY_MESSAGES)
  --connections 3000          memory: idle connections                (BENCH_CONNECTIONS)
  --channels own              memory: own channel each, or shared     (BENCH_CHANNELS)
  --settle-ms 3000            memory: wait before each RSS reading    (BENCH_SETTLE_MS)
  --rounds 5                  rounds per server (fanout)              (BENCH_ROUNDS)
  --memory-rounds 3           rounds per server (memory)              (BENCH_MEMORY_ROUNDS)
  --agentwire-root DIR        checkout to measure (default: this one) (BENCH_AGENTWIRE_ROOT)
  --timeout-s 170             give up (and kill the servers) after this (BENCH_TIMEOUT_S)
  --help`;

const flags = {
  scenarios: { type: "string" },
  subscribers: { type: "string" },
  messages: { type: "string" },
  window: { type: "string" },
  "body-bytes": { type: "string" },
  samplers: { type: "string" },
  "latency-messages": { type: "string" },
  connections: { type: "string" },
  channels: { type: "string" },
  "settle-ms": { type: "string" },
  rounds: { type: "string" },
  "memory-rounds": { type: "string" },
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

function nonNegativeInteger(name: string, text: string): number {
  const value = Number(text);
  if (!Number.isInteger(value) || value < 0) throw new UsageError(`--${name} must be an integer, 0 or more, not "${text}"`);
  return value;
}

function list(text: string): string[] {
  return text.split(",").map((item) => item.trim()).filter((item) => item.length > 0);
}

/** Parses argv (without the runtime and script); returns undefined when --help was asked. */
export function parseOptions(argv: string[], env: Record<string, string | undefined>): BenchOptions | undefined {
  const { values } = parseArgs({ args: argv, options: flags, strict: true, allowPositionals: false });
  if (values.help) return undefined;
  const get = (name: Exclude<keyof typeof flags, "help">, fallback: string): string => {
    const variable = "BENCH_" + name.toUpperCase().replaceAll("-", "_");
    return values[name] ?? env[variable] ?? fallback;
  };
  const scenarios = list(get("scenarios", SCENARIOS.join(",")));
  for (const scenario of scenarios) {
    if (!(SCENARIOS as readonly string[]).includes(scenario)) throw new UsageError(`unknown scenario "${scenario}"; known: ${SCENARIOS.join(", ")}`);
  }
  const channels = get("channels", "own");
  if (channels !== "own" && channels !== "shared") throw new UsageError(`--channels must be own or shared, not "${channels}"`);
  const connectBatch = 100;
  const messages = get("messages", "auto");
  return {
    scenarios: scenarios as Scenario[],
    agentwireRoot: resolve(get("agentwire-root", ROOT)),
    timeoutMs: positiveInteger("timeout-s", get("timeout-s", "170")) * 1000,
    fanout: {
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
    },
    memory: {
      connections: positiveInteger("connections", get("connections", "3000"), 15_000),
      rounds: positiveInteger("memory-rounds", get("memory-rounds", "3")),
      channels,
      warmupConnections: 100,
      settleMs: positiveInteger("settle-ms", get("settle-ms", "3000")),
      connectBatch,
    },
  };
}
