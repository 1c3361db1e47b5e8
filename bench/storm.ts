// Scenario "storm": every client of a node cut at once (a node's network blip) while a publisher goes on;
// how long until all have reconnected and resumed with since/epoch, what it costs the server, and
// whether every client still gets every publication exactly once.

import { connect } from "./clients.ts";
import { PacedPublisher } from "./paced-publisher.ts";
import { startServer, type RunningServer } from "./servers.ts";
import { openSharedServices, type ServiceUrls, type SharedServices } from "./services.ts";
import { formatBytes, formatNumber, percentile, table } from "./stats.ts";
import type { StormCommand, StormReport, StormStatus } from "./storm-messages.ts";
import { monitorUsage } from "./usage-monitor.ts";
import { WorkerProcess } from "./worker-process.ts";

/** `single`: one node on the memory broker; `cluster`: two nodes on Redis, clients coming back to either. */
export type StormMode = "single" | "cluster";
export const STORM_MODES: readonly StormMode[] = ["single", "cluster"];

export interface StormOptions {
  modes: StormMode[];
  clients: number;
  channels: number;
  ratePerSecond: number;
  loadgens: number;
  /** Connected and live before the cut, and again after the recovery before the final check. */
  steadyMs: number;
  /** Give up waiting for the recovery after this long. */
  recoveryTimeoutMs: number;
  bodyBytes: number;
  services: ServiceUrls;
}

/** The client-side counts, summed over the load generators. */
type StormCounts = Pick<StormStatus, "attempts" | "failedAttempts" | "received" | "duplicates" | "gaps" | "notRecovered" | "errors" | "gapsRepaired">;

export interface StormResult extends StormCounts {
  mode: StormMode;
  clients: number;
  nodes: number;
  /** Cut until the last client was live again (acked `recovered`, replay received); NaN when not all were. */
  allRecoveredMs: number;
  recoverP50Ms: number;
  recoverP99Ms: number;
  recovered: number;
  /** Server CPU (all nodes) from the cut until all were live again, in seconds and as cores. */
  serverCpuSeconds: number;
  serverCores: number;
  /** Highest RSS of the nodes together during the storm, and before the cut. */
  peakRss: number;
  rssBefore: number;
  publishedPerSecond: number;
  /** Clients not holding their channel's last seq after the publisher stopped. */
  behind: number;
  problems: string[];
}

type Loadgen = WorkerProcess<StormCommand, StormReport>;
const POLL_MS = 100;
const DRAIN_MS = 10_000;

async function startNodes(mode: StormMode, services: SharedServices | undefined): Promise<RunningServer[]> {
  if (mode === "single") return [await startServer("agentwire")];
  const settings = { REDIS_URL: services!.redisUrl, REDIS_PREFIX: `${services!.prefix}storm:`, DATABASE_URL: services!.databaseUrl, SHUTDOWN_GRACE_S: "0" };
  const nodes: RunningServer[] = [];
  // One after the other: both nodes migrate the same database at start.
  for (let node = 0; node < 2; node++) nodes.push(await startServer("agentwire", settings));
  return nodes;
}

async function statusOf(loadgens: Loadgen[]): Promise<StormStatus[]> {
  return Promise.all(loadgens.map((loadgen) => loadgen.request<Extract<StormReport, { type: "status" }>>({ type: "status" })));
}

async function runMode(mode: StormMode, services: SharedServices | undefined, options: StormOptions): Promise<StormResult> {
  const nodes = await startNodes(mode, services);
  const loadgens: Loadgen[] = Array.from({ length: options.loadgens }, () => new WorkerProcess<StormCommand, StormReport>("./storm-loadgen.ts"));
  let publisherSocket: WebSocket | undefined;
  try {
    await Promise.all(loadgens.map((loadgen) => loadgen.ready));
    const share = Math.ceil(options.clients / loadgens.length);
    const parts = loadgens.map((loadgen, index) => ({ loadgen, first: index * share, count: Math.max(0, Math.min(share, options.clients - index * share)) }));
    await Promise.all(parts.map((part) => part.loadgen.request({ type: "prepare", first: part.first, count: part.count })));

    const channels = Array.from({ length: options.channels }, (_, index) => `storm-${index}`);
    publisherSocket = await connect(nodes[0]!.url);
    const publisher = new PacedPublisher(publisherSocket, channels, options.ratePerSecond, options.bodyBytes);
    publisher.start();
    const ports = nodes.map((node) => node.port);
    const inFlight = Math.max(1, Math.round(100 / loadgens.length));
    await Promise.all(parts.map((part) => part.loadgen.request({ type: "open", ports, first: part.first, count: part.count, channels: options.channels, inFlight })));
    console.log(`  storm ${mode}: ${options.clients} clients live on ${nodes.length} node(s), publisher at ${options.ratePerSecond}/s over ${options.channels} channels`);
    await Bun.sleep(options.steadyMs);

    const rssBefore = nodes.reduce((total, node) => total + node.rss(), 0);
    const monitor = monitorUsage(nodes);
    const cpuBefore = nodes.reduce((total, node) => total + node.cpuSeconds(), 0);
    const cutAt = performance.now();
    await Promise.all(loadgens.map((loadgen) => loadgen.request({ type: "cut" })));
    let statuses = await statusOf(loadgens);
    while (statuses.some((status) => status.recovered < status.clients) && performance.now() - cutAt < options.recoveryTimeoutMs) {
      await Bun.sleep(POLL_MS);
      statuses = await statusOf(loadgens);
    }
    const usage = monitor.stop();
    const cpuSeconds = nodes.reduce((total, node) => total + node.cpuSeconds(), 0) - cpuBefore;
    const stormSeconds = (performance.now() - cutAt) / 1000;
    const recoverMs = statuses.flatMap((status) => status.recoverMs);
    const allRecovered = statuses.every((status) => status.recovered >= status.clients);
    console.log(
      `  storm ${mode}: ${recoverMs.length} of ${options.clients} recovered ${allRecovered ? `in ${formatNumber(Math.max(...recoverMs))} ms` : `within ${options.recoveryTimeoutMs} ms (NOT ALL)`}`,
    );

    await Bun.sleep(options.steadyMs);
    const stats = publisher.statsBetween(cutAt, performance.now());
    await publisher.stop();
    const lastSeqs = channels.map((_, index) => publisher.lastSeq(index));
    let checks = await Promise.all(loadgens.map((loadgen) => loadgen.request<Extract<StormReport, { type: "checked" }>>({ type: "check", lastSeqs })));
    const drainUntil = performance.now() + DRAIN_MS;
    while (checks.some((check) => check.behind > 0) && performance.now() < drainUntil) {
      await Bun.sleep(POLL_MS);
      checks = await Promise.all(loadgens.map((loadgen) => loadgen.request<Extract<StormReport, { type: "checked" }>>({ type: "check", lastSeqs })));
    }
    statuses = await statusOf(loadgens);
    const sum = (pick: (status: StormStatus) => number) => statuses.reduce((total, status) => total + pick(status), 0);
    return {
      mode,
      clients: options.clients,
      nodes: nodes.length,
      allRecoveredMs: allRecovered ? Math.max(...recoverMs) : Number.NaN,
      recoverP50Ms: percentile(recoverMs, 50),
      recoverP99Ms: percentile(recoverMs, 99),
      recovered: recoverMs.length,
      attempts: sum((status) => status.attempts),
      failedAttempts: sum((status) => status.failedAttempts),
      serverCpuSeconds: cpuSeconds,
      serverCores: cpuSeconds / stormSeconds,
      peakRss: usage.peakRss,
      rssBefore,
      publishedPerSecond: stats.publishedPerSecond,
      received: sum((status) => status.received),
      duplicates: sum((status) => status.duplicates),
      gaps: sum((status) => status.gaps),
      notRecovered: sum((status) => status.notRecovered),
      errors: sum((status) => status.errors),
      gapsRepaired: sum((status) => status.gapsRepaired),
      behind: checks.reduce((total, check) => total + check.behind, 0),
      problems: [...publisher.problems, ...statuses.flatMap((status) => status.problems), ...checks.flatMap((check) => check.problems)].slice(0, 10),
    };
  } finally {
    await Promise.all(loadgens.map((loadgen) => loadgen.kill()));
    publisherSocket?.close();
    for (const node of nodes) await node.stop();
  }
}

export async function runStorm(options: StormOptions): Promise<StormResult[]> {
  console.log(
    `storm: ${options.clients} clients over ${options.loadgens} load-generator processes, each behind its own TCP proxy, on ${options.channels} channels; ` +
      `publisher at ${options.ratePerSecond}/s; every client cut at once, reconnecting with full-jitter backoff (250 ms doubling to 10 s) and resuming with since/epoch; modes ${options.modes.join(", ")}`,
  );
  const services = options.modes.includes("cluster") ? await openSharedServices(options.services) : undefined;
  const results: StormResult[] = [];
  try {
    for (const mode of options.modes) {
      const result = await runMode(mode, services, options);
      results.push(result);
      if (result.problems.length > 0) console.log(`  storm ${mode} problems: ${result.problems.join("; ")}`);
    }
  } finally {
    await services?.remove();
  }
  return results;
}

export function stormReport(results: StormResult[]): string {
  const ms = (value: number) => (Number.isNaN(value) ? "NOT ALL" : formatNumber(value));
  const rows = results.map((result) => [
    result.mode === "single" ? "1 node, memory broker" : `${result.nodes} nodes, Redis`,
    formatNumber(result.clients),
    `${ms(result.allRecoveredMs)} (<= 10,000: ${result.allRecoveredMs <= 10_000 ? "met" : "NOT MET"})`,
    `${ms(result.recoverP50Ms)} / ${ms(result.recoverP99Ms)}`,
    `${formatNumber(result.attempts)} (${formatNumber(result.failedAttempts)} failed, ${formatNumber(result.errors)} error frames)`,
    `${formatNumber(result.serverCpuSeconds, 2)} s (${formatNumber(result.serverCores * 100)}%)`,
    `${formatBytes(result.rssBefore)} -> ${formatBytes(result.peakRss)}`,
    formatNumber(result.publishedPerSecond),
    `${formatNumber(result.received)}; ${result.duplicates} dup, ${result.gaps} gaps, ${result.notRecovered} not recovered, ${result.behind} behind ` +
      `(${result.gapsRepaired} live gaps resubscribed)`,
  ]);
  return table(
    ["deployment", "clients", "all recovered ms", "recovered p50 / p99 ms", "connection attempts", "server CPU cut to recovered", "server RSS before -> peak", "published/s during", "publications received; exactly once?"],
    rows,
  );
}
