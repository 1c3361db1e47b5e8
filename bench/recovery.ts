// Scenario "recovery": a publisher at a fixed rate while subscribers keep disconnecting and resuming with since/epoch.

import { checkFileLimit, closeAll, connect, signToken } from "./clients.ts";
import { Follower, type Resume } from "./follower.ts";
import { PacedPublisher } from "./paced-publisher.ts";
import { describeRecoveryPhase } from "./recovery-report.ts";
import { startServer, type RunningServer } from "./servers.ts";
import { openSharedServices, type ServiceUrls, type SharedServices } from "./services.ts";
import { median, percentile } from "./stats.ts";
import { monitorUsage } from "./usage-monitor.ts";

/** `single`: one node (memory broker), resumes on the same node; `cluster`: two nodes on Redis, each resume on the other node. */
export type RecoveryMode = "single" | "cluster";
export const RECOVERY_MODES: readonly RecoveryMode[] = ["single", "cluster"];

export type Phase = "steady" | "churn";

export interface RecoveryOptions {
  modes: RecoveryMode[];
  ratePerSecond: number;
  channels: number;
  /** Subscribers that disconnect and resume during churn phases (and stay connected in steady ones). */
  subscribers: number;
  phaseSeconds: number;
  rounds: number;
  /** A follower stays connected 0.5x-1.5x this long between resumes. */
  holdMs: number;
  /** Time between closing the old socket and opening the new one. */
  offlineMs: number;
  bodyBytes: number;
  services: ServiceUrls;
}

export interface RecoveryPhase {
  mode: RecoveryMode;
  phase: Phase;
  round: number;
  targetRate: number;
  publishedPerSecond: number;
  ackP50Ms: number;
  ackP99Ms: number;
  behind: number;
  /** Publish to receive, live publications only (replays are old by design). */
  deliveryP50Ms: number;
  deliveryP99Ms: number;
  resumes: number;
  notRecovered: number;
  /** Over all followers in the phase; the problems say where the first ones were. */
  gaps: number;
  duplicates: number;
  connectP50Ms: number;
  resumeP50Ms: number;
  resumeP99Ms: number;
  catchUpP50Ms: number;
  catchUpP99Ms: number;
  replayedMedian: number;
  replayedMax: number;
  /** Server CPU, all nodes together, as a share of one core. */
  serverCoreShare: number;
  problems: string[];
}

const CHURN_GRACE_MS = 15_000;
const DRAIN_TIMEOUT_MS = 10_000;

interface Setup {
  mode: RecoveryMode;
  servers: RunningServer[];
  publisherSocket: WebSocket;
  publisher: PacedPublisher;
  followers: Follower[];
  /** Node each follower is connected to now. */
  nodeOf: number[];
}

async function openSetup(mode: RecoveryMode, services: SharedServices | undefined, options: RecoveryOptions): Promise<Setup> {
  const servers: RunningServer[] = [];
  const followers: Follower[] = [];
  try {
    if (mode === "single") servers.push(await startServer("agentwire"));
    else {
      const settings = { REDIS_URL: services!.redisUrl, REDIS_PREFIX: `${services!.prefix}recovery:`, DATABASE_URL: services!.databaseUrl, SHUTDOWN_GRACE_S: "0" };
      // One after the other: both nodes migrate the same database at start.
      for (let node = 0; node < 2; node++) servers.push(await startServer("agentwire", settings));
    }
    const channels = Array.from({ length: options.channels }, (_, index) => `recovery-${index}`);
    const token = await signToken({ sub: "follower", subscribe: ["recovery-*"] });
    const nodeOf: number[] = [];
    for (let index = 0; index < options.subscribers; index++) {
      const follower = new Follower(`follower ${index}`, channels[index % channels.length]!, token);
      followers.push(follower);
      nodeOf.push(index % servers.length);
      await follower.join(servers[nodeOf[index]!]!.url);
    }
    const publisherSocket = await connect(servers[0]!.url);
    const publisher = new PacedPublisher(publisherSocket, channels, options.ratePerSecond, options.bodyBytes);
    return { mode, servers, publisherSocket, publisher, followers, nodeOf };
  } catch (error) {
    await Promise.all(followers.map((follower) => follower.leave()));
    for (const server of servers) await server.stop();
    throw error;
  }
}

async function closeSetup(setup: Setup): Promise<void> {
  await Promise.all(setup.followers.map((follower) => follower.leave()));
  await closeAll([setup.publisherSocket]);
  for (const server of setup.servers) await server.stop();
}

/** Disconnect and resume until `until`, moving to the next node each time; always ends connected. */
async function churn(setup: Setup, index: number, until: number, options: RecoveryOptions, resumes: Resume[]): Promise<void> {
  const follower = setup.followers[index]!;
  // Bounded by the phase: at most one resume per (offline) interval.
  const maxCycles = Math.ceil((options.phaseSeconds * 1000) / Math.max(1, options.offlineMs)) + 1;
  for (let cycle = 0; cycle < maxCycles; cycle++) {
    const hold = options.holdMs * (0.5 + Math.random());
    if (performance.now() + hold >= until) return;
    await Bun.sleep(hold);
    await follower.leave();
    await Bun.sleep(options.offlineMs);
    setup.nodeOf[index] = (setup.nodeOf[index]! + 1) % setup.servers.length;
    resumes.push(await follower.join(setup.servers[setup.nodeOf[index]!]!.url));
  }
}

async function runPhase(setup: Setup, phase: Phase, round: number, options: RecoveryOptions): Promise<RecoveryPhase> {
  const { followers, publisher } = setup;
  const latencyMarks = followers.map((follower) => follower.latencies.length);
  const problemMarks = followers.map((follower) => follower.problems.length);
  const gapsBefore = followers.reduce((sum, follower) => sum + follower.gaps, 0);
  const duplicatesBefore = followers.reduce((sum, follower) => sum + follower.duplicates, 0);
  const resumes: Resume[] = [];
  const monitor = monitorUsage(setup.servers);
  const from = performance.now();
  const until = from + options.phaseSeconds * 1000;
  if (phase === "churn") {
    let timer: Timer | undefined;
    const limit = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`churn did not finish within ${CHURN_GRACE_MS} ms after the phase`)), options.phaseSeconds * 1000 + CHURN_GRACE_MS);
    });
    try {
      await Promise.race([Promise.all(followers.map((_, index) => churn(setup, index, until, options, resumes))), limit]);
    } finally {
      clearTimeout(timer);
    }
  }
  const left = until - performance.now();
  if (left > 0) await Bun.sleep(left);
  const to = performance.now();
  const usage = monitor.stop();
  const stats = publisher.statsBetween(from, to);
  const delivery = followers.flatMap((follower, index) => follower.latencies.slice(latencyMarks[index]));
  const recovered = resumes.filter((resume) => resume.recovered);
  const replayed = recovered.map((resume) => resume.replayed);
  const problems = followers.flatMap((follower, index) => follower.problems.slice(problemMarks[index]));
  // Keep memory flat over long runs: only this phase's latencies were needed.
  for (const follower of followers) follower.latencies = [];
  return {
    mode: setup.mode,
    phase,
    round,
    targetRate: options.ratePerSecond,
    ...stats,
    deliveryP50Ms: percentile(delivery, 50),
    deliveryP99Ms: percentile(delivery, 99),
    resumes: resumes.length,
    notRecovered: resumes.length - recovered.length,
    gaps: followers.reduce((sum, follower) => sum + follower.gaps, 0) - gapsBefore,
    duplicates: followers.reduce((sum, follower) => sum + follower.duplicates, 0) - duplicatesBefore,
    connectP50Ms: percentile(resumes.map((resume) => resume.connectMs), 50),
    resumeP50Ms: percentile(resumes.map((resume) => resume.resumeMs), 50),
    resumeP99Ms: percentile(resumes.map((resume) => resume.resumeMs), 99),
    catchUpP50Ms: percentile(recovered.map((resume) => resume.catchUpMs), 50),
    catchUpP99Ms: percentile(recovered.map((resume) => resume.catchUpMs), 99),
    replayedMedian: median(replayed),
    replayedMax: replayed.length === 0 ? Number.NaN : Math.max(...replayed),
    serverCoreShare: usage.serverCoreShare,
    problems: problems.slice(0, 10),
  };
}

/** After the publisher stops, every follower must hold every publication of its channel, exactly once. */
async function checkComplete(setup: Setup, channels: number): Promise<string[]> {
  const deadline = performance.now() + DRAIN_TIMEOUT_MS;
  const finalSeq = (index: number) => setup.publisher.lastSeq(index % channels);
  while (performance.now() < deadline && setup.followers.some((follower, index) => follower.lastSeq < finalSeq(index))) await Bun.sleep(20);
  return setup.followers
    .map((follower, index) => (follower.lastSeq === finalSeq(index) ? "" : `${follower.name}: ended at seq ${follower.lastSeq}, channel at ${finalSeq(index)}`))
    .filter((text) => text !== "");
}

async function runMode(mode: RecoveryMode, services: SharedServices | undefined, options: RecoveryOptions): Promise<RecoveryPhase[]> {
  const setup = await openSetup(mode, services, options);
  const phases: RecoveryPhase[] = [];
  try {
    setup.publisher.start();
    // Unrecorded: the publisher and the followers warm up before the first figure.
    await Bun.sleep(1000);
    for (let round = 0; round < options.rounds; round++) {
      const order: Phase[] = round % 2 === 0 ? ["steady", "churn"] : ["churn", "steady"];
      for (const phase of order) {
        const result = await runPhase(setup, phase, round + 1, options);
        phases.push(result);
        console.log(`  recovery ${mode} round ${round + 1} ${phase.padEnd(6)} ${describeRecoveryPhase(result)}`);
      }
    }
    await setup.publisher.stop();
    const missing = await checkComplete(setup, options.channels);
    const last = phases[phases.length - 1];
    if (last) last.problems.push(...setup.publisher.problems, ...missing.slice(0, 5));
    const sum = (pick: (follower: Follower) => number) => setup.followers.reduce((total, follower) => total + pick(follower), 0);
    console.log(
      `  recovery ${mode}: ${setup.followers.length} followers received ${sum((follower) => follower.received)} publications; ` +
        `${missing.length === 0 ? "each ended holding its channel's last seq" : `${missing.length} ended BEHIND`}; ` +
        `${sum((follower) => follower.gaps)} gaps, ${sum((follower) => follower.duplicates)} duplicates in all`,
    );
  } finally {
    await closeSetup(setup);
  }
  return phases;
}

export async function runRecovery(options: RecoveryOptions): Promise<RecoveryPhase[]> {
  console.log(
    `recovery: ${options.ratePerSecond} publications/s over ${options.channels} channel(s), ${options.subscribers} subscribers resuming every ` +
      `~${options.holdMs} ms after ${options.offlineMs} ms offline; ${options.phaseSeconds} s phases, ${options.rounds} rounds of steady + churn; modes ${options.modes.join(", ")}`,
  );
  checkFileLimit(2 * options.subscribers + 10);
  const services = options.modes.includes("cluster") ? await openSharedServices(options.services) : undefined;
  const phases: RecoveryPhase[] = [];
  try {
    for (const mode of options.modes) phases.push(...(await runMode(mode, services, options)));
  } finally {
    await services?.remove();
  }
  return phases;
}
