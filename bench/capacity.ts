// Scenario "capacity": the cost of setting up idle subscribed connections, and of holding them, against
// plain Bun.serve pub/sub with Bun's default socket settings, up to ~19,000 connections per server.

import { signToken } from "./clients.ts";
import type { CapacityCommand, CapacityReport } from "./capacity-messages.ts";
import { settledRss } from "./memory.ts";
import { SERVER_KINDS, startServer, type RunningServer, type ServerKind } from "./servers.ts";
import { cpuSecondsBetween, threadTimes } from "./thread-cpu.ts";
import { formatBytes, formatNumber, median, table } from "./stats.ts";
import { WorkerProcess } from "./worker-process.ts";

export interface CapacityOptions {
  /** Connections per server at each step. */
  sizes: number[];
  rounds: number;
  /** Set-ups under way at once, over all load generators. */
  inFlight: number;
  loadgens: number;
  warmupConnections: number;
  settleMs: number;
  /** "own": every connection is a user of its own with its own token (as real clients are); "shared": one token for all. */
  tokens: "own" | "shared";
  /** Idle stretch with every connection open, over which the server's own CPU (its periodic work) is read. */
  idleMs: number;
}

export interface CapacityRound {
  kind: ServerKind;
  size: number;
  round: number;
  /** Server CPU (all threads, from schedstat) from the first connection to the last ack, per connection. */
  cpuUsPerConnection: number;
  /** Of that, the main (JavaScript) thread's, and the JIT compiler threads' (JSC's "JITWorker"). */
  mainCpuUsPerConnection: number;
  jitCpuUsPerConnection: number;
  connectionsPerSecond: number;
  rssPerConnection: number;
  rssAfter: number;
  /** Server CPU while all connections sat idle, ms per second: its periodic work (ticks, timers, GC). */
  idleMsPerSecond: number;
}

export type Loadgen = WorkerProcess<CapacityCommand, CapacityReport>;

/** Connections `first`... split over the load generators: who opens how many, from which index. */
function spread(loadgens: Loadgen[], count: number, first: number): { loadgen: Loadgen; count: number; first: number }[] {
  const share = Math.ceil(count / loadgens.length);
  return loadgens
    .map((loadgen, index) => ({ loadgen, count: Math.max(0, Math.min(share, count - index * share)), first: first + index * share }))
    .filter((part) => part.count > 0);
}

/** Opens `count` connections spread over the load generators, `inFlight` set-ups at a time in all; returns the wall time. */
export async function openSpread(loadgens: Loadgen[], server: RunningServer, token: string | undefined, count: number, prefix: string, inFlight: number): Promise<number> {
  const parts = spread(loadgens, count, 0);
  if (token === undefined) await Promise.all(parts.map((part) => part.loadgen.request({ type: "prepare", count: part.count, first: part.first, prefix })));
  const startedAt = performance.now();
  const perLoadgen = Math.max(1, Math.round(inFlight / loadgens.length));
  await Promise.all(parts.map((part) => part.loadgen.request({ type: "open", url: server.url, token, count: part.count, first: part.first, prefix, inFlight: perLoadgen })));
  return performance.now() - startedAt;
}

async function measure(kind: ServerKind, size: number, round: number, token: string | undefined, options: CapacityOptions): Promise<CapacityRound> {
  const server = await startServer(kind, kind === "baseline" ? { BASELINE_SETTINGS: "default" } : {});
  const loadgens: Loadgen[] = Array.from({ length: options.loadgens }, () => new WorkerProcess<CapacityCommand, CapacityReport>("./capacity-loadgen.ts"));
  try {
    await Promise.all(loadgens.map((loadgen) => loadgen.ready));
    await openSpread(loadgens, server, token, options.warmupConnections, "warm", options.inFlight);
    const rssBefore = await settledRss(server.rss, options.settleMs);
    // Per thread from schedstat: /proc/<pid>/stat counts in 10 ms ticks, 5 µs per connection at 2,000.
    const cpuBefore = threadTimes(server.pid);
    const ms = await openSpread(loadgens, server, token, size, "u", options.inFlight);
    const cpuAfter = threadTimes(server.pid);
    const setUpCpu = cpuSecondsBetween(cpuBefore, cpuAfter);
    const mainCpu = cpuSecondsBetween(cpuBefore, cpuAfter, (thread) => thread.name === "main");
    const jitCpu = cpuSecondsBetween(cpuBefore, cpuAfter, (thread) => thread.name.startsWith("JITWorker"));
    const rssAfter = await settledRss(server.rss, options.settleMs);
    const idleFrom = threadTimes(server.pid);
    const idleStartedAt = performance.now();
    await Bun.sleep(options.idleMs);
    const idleCpu = cpuSecondsBetween(idleFrom, threadTimes(server.pid));
    const idleSeconds = (performance.now() - idleStartedAt) / 1000;
    return {
      kind,
      size,
      round,
      cpuUsPerConnection: (setUpCpu * 1e6) / size,
      mainCpuUsPerConnection: (mainCpu * 1e6) / size,
      jitCpuUsPerConnection: (jitCpu * 1e6) / size,
      connectionsPerSecond: (size * 1000) / ms,
      rssPerConnection: (rssAfter - rssBefore) / size,
      rssAfter,
      idleMsPerSecond: (idleCpu * 1000) / idleSeconds,
    };
  } finally {
    // Killing the load generators drops their sockets at once; the server goes next.
    await Promise.all(loadgens.map((loadgen) => loadgen.kill()));
    await server.stop();
  }
}

export async function runCapacity(options: CapacityOptions): Promise<CapacityRound[]> {
  console.log(
    `capacity: ${options.sizes.join(", ")} idle connections, each subscribed to its own channel, ` +
      `${options.tokens === "own" ? "each its own user with its own token" : "all with one token"}, after ${options.warmupConnections} warm-up ones; ` +
      `${options.inFlight} set-ups at a time over ${options.loadgens} load-generator processes; ${options.rounds} paired rounds, a fresh server each; ` +
      `baseline: Bun.serve pub/sub with Bun's default socket settings`,
  );
  const token = options.tokens === "shared" ? await signToken({ sub: "bench", subscribe: ["*"], publish: ["*"] }) : undefined;
  const rounds: CapacityRound[] = [];
  for (const size of options.sizes) {
    for (let round = 0; round < options.rounds; round++) {
      const order = round % 2 === 0 ? SERVER_KINDS : [...SERVER_KINDS].reverse();
      for (const kind of order) {
        const result = await measure(kind, size, round + 1, token, options);
        rounds.push(result);
        console.log(
          `  capacity ${size} round ${round + 1} ${kind.padEnd(9)} ${formatNumber(result.cpuUsPerConnection, 1)} µs CPU per set-up ` +
            `(main thread ${formatNumber(result.mainCpuUsPerConnection, 1)}, JIT ${formatNumber(result.jitCpuUsPerConnection, 1)}), ` +
            `${formatNumber(result.connectionsPerSecond)} connections/s, ${formatNumber(result.rssPerConnection)} B RSS per connection ` +
            `(RSS ${formatBytes(result.rssAfter)}), idle CPU ${formatNumber(result.idleMsPerSecond, 2)} ms/s`,
        );
      }
    }
  }
  return rounds;
}

const verdict = (met: boolean) => (met ? "met" : "NOT MET");

export function capacityReport(rounds: CapacityRound[]): string {
  const sizes = [...new Set(rounds.map((round) => round.size))];
  const rows: string[][] = [];
  // Where the set-up's CPU went: the main thread bounds the connection rate; the JIT compiler's threads
  // compile the server's code once per process, over its first ten to twenty thousand set-ups.
  const split: string[] = [];
  for (const size of sizes) {
    const middle = (kind: ServerKind, pick: (round: CapacityRound) => number) => median(rounds.filter((round) => round.size === size && round.kind === kind).map(pick));
    for (const kind of SERVER_KINDS) {
      rows.push([
        String(size),
        kind === "baseline" ? "raw Bun (defaults)" : kind,
        formatNumber(middle(kind, (round) => round.cpuUsPerConnection), 1),
        formatNumber(middle(kind, (round) => round.connectionsPerSecond)),
        formatNumber(middle(kind, (round) => round.rssPerConnection)),
        formatNumber(middle(kind, (round) => round.idleMsPerSecond), 2),
      ]);
    }
    const ratio = (pick: (round: CapacityRound) => number) => middle("agentwire", pick) / middle("baseline", pick);
    const cpu = ratio((round) => round.cpuUsPerConnection);
    const rate = ratio((round) => round.connectionsPerSecond);
    const rss = ratio((round) => round.rssPerConnection);
    const main = (kind: ServerKind) => formatNumber(middle(kind, (round) => round.mainCpuUsPerConnection), 1);
    const jit = (kind: ServerKind) => formatNumber(middle(kind, (round) => round.jitCpuUsPerConnection), 1);
    split.push(
      `${size}: main thread agentwire ${main("agentwire")} µs, raw Bun ${main("baseline")} µs ` +
        `(${formatNumber(ratio((round) => round.mainCpuUsPerConnection), 2)}x); JIT threads agentwire ${jit("agentwire")} µs, raw Bun ${jit("baseline")} µs`,
    );
    rows.push([
      String(size),
      "ratio agentwire/raw Bun",
      `${formatNumber(cpu, 2)}x (<= 2x: ${verdict(cpu <= 2)})`,
      `${formatNumber(rate, 2)}x (>= 0.8x: ${verdict(rate >= 0.8)})`,
      `${formatNumber(rss, 2)}x (<= 1.5x: ${verdict(rss <= 1.5)})`,
      "",
    ]);
  }
  const text = `${table(["connections", "server", "server CPU µs per set-up", "connections/s", "RSS bytes per connection", "idle CPU ms/s"], rows)}\n\nServer CPU per set-up, split (medians): ${split.join("; ")}.`;
  if (sizes.length < 2) return text;
  // The periodic work that grows with the connections (agentwire's tick walks them all): the slope of
  // idle CPU between the smallest and the largest size, which leaves out what costs the same at any size.
  const [fewest, most] = [Math.min(...sizes), Math.max(...sizes)];
  const slope = (kind: ServerKind) => {
    const idleAt = (size: number) => median(rounds.filter((round) => round.size === size && round.kind === kind).map((round) => round.idleMsPerSecond));
    return ((idleAt(most) - idleAt(fewest)) * 10_000) / (most - fewest);
  };
  return `${text}\n\nIdle CPU per 10,000 more connections (${fewest} to ${most}): agentwire ${formatNumber(slope("agentwire"), 2)} ms/s, raw Bun ${formatNumber(slope("baseline"), 2)} ms/s.`;
}
