// Scenario "cluster": fan-out with two nodes on Redis + PostgreSQL, against one node on Redis and one in memory.

import { checkFileLimit, closeAll, connect, connectAndSubscribe, openMany } from "./clients.ts";
import { describeClusterRound } from "./cluster-report.ts";
import { loadedMessages, roundFigures, runPass, runUnloadedPass, type PassTarget, type RoundFigures } from "./fanout-pass.ts";
import { startServer, type RunningServer } from "./servers.ts";
import { openSharedServices, type ServiceUrls, type SharedServices } from "./services.ts";

export interface ClusterOptions {
  subscribers: number[];
  /** Messages per loaded pass; undefined picks enough for about a million deliveries. */
  messages: number | undefined;
  rounds: number;
  /** Publishing connections, all on the first node; more than one lets Redis replies of different publishers overlap. */
  publishers: number;
  window: number;
  bodyBytes: number;
  samplers: number;
  latencyMessages: number;
  connectBatch: number;
  roundTimeoutMs: number;
  services: ServiceUrls;
}

/** `memory`: one node, in-memory broker (the default); `redis-1`: one node on Redis; `redis-2`: two nodes on Redis, subscribers split. */
export type Deployment = "memory" | "redis-1" | "redis-2";
export const DEPLOYMENTS: readonly Deployment[] = ["memory", "redis-1", "redis-2"];

export interface ClusterRound extends RoundFigures {
  deployment: Deployment;
  subscribers: number;
  /** CPU of every node together, per delivery, in the loaded pass. */
  nodeNanosPerDelivery: number;
  /** CPU Redis spent per publication in the loaded pass (NaN without Redis). */
  redisMicrosPerPublication: number;
  publicationsPerSecond: number;
}

export interface ClusterSummary {
  subscribers: number;
  rounds: ClusterRound[];
}

const CHANNEL = "bench";

interface Target extends PassTarget {
  deployment: Deployment;
  lastSeq: number[];
}

/** Node settings: each deployment and subscriber count on Redis gets a key prefix of its own, so every channel starts at seq 0. */
function nodeSettings(deployment: Deployment, subscriberCount: number, services: SharedServices): Record<string, string> {
  if (deployment === "memory") return {};
  return {
    REDIS_URL: services.redisUrl,
    REDIS_PREFIX: `${services.prefix}${deployment}-${subscriberCount}:`,
    DATABASE_URL: services.databaseUrl,
    // Nothing runs on these nodes, so a stop need not wait for runs.
    SHUTDOWN_GRACE_S: "0",
  };
}

async function prepare(deployment: Deployment, subscriberCount: number, services: SharedServices, options: ClusterOptions): Promise<Target> {
  const servers: RunningServer[] = [];
  const sockets: WebSocket[] = [];
  try {
    const nodeCount = deployment === "redis-2" ? 2 : 1;
    // One after the other: both nodes migrate the same database at start (under an advisory lock).
    for (let node = 0; node < nodeCount; node++) servers.push(await startServer("agentwire", nodeSettings(deployment, subscriberCount, services)));
    // Subscribers alternate between the nodes; the publishers are on the first.
    const subscribers = await openMany(subscriberCount, options.connectBatch, (index) => connectAndSubscribe(servers[index % nodeCount]!.url, CHANNEL));
    sockets.push(...subscribers);
    const publishers = await openMany(options.publishers, options.connectBatch, () => connect(servers[0]!.url));
    sockets.push(...publishers);
    return { label: deployment, deployment, servers, subscribers, publishers, lastSeq: new Array<number>(subscriberCount).fill(0) };
  } catch (error) {
    await closeAll(sockets);
    for (const server of servers) await server.stop();
    throw error;
  }
}

async function release(target: Target): Promise<void> {
  await closeAll([...target.subscribers, ...target.publishers]);
  for (const server of target.servers) await server.stop();
}

async function runRound(target: Target, services: SharedServices, options: ClusterOptions): Promise<ClusterRound> {
  Bun.gc(true);
  const settings = { channel: CHANNEL, ...options };
  const onRedis = target.deployment !== "memory";
  const redisBefore = onRedis ? await services.redisCpuSeconds() : Number.NaN;
  const loaded = await runPass(target, loadedMessages(target.subscribers.length, options.messages), options.window, settings);
  const redisSeconds = onRedis ? (await services.redisCpuSeconds()) - redisBefore : Number.NaN;
  const unloaded = await runUnloadedPass(target, options.latencyMessages, settings);
  return {
    deployment: target.deployment,
    subscribers: target.subscribers.length,
    ...roundFigures(loaded, unloaded),
    nodeNanosPerDelivery: (loaded.serverCpuSeconds * 1e9) / loaded.deliveries,
    redisMicrosPerPublication: (redisSeconds * 1e6) / loaded.messages,
    publicationsPerSecond: loaded.messages / loaded.seconds,
  };
}

async function runForSubscriberCount(subscriberCount: number, services: SharedServices, options: ClusterOptions): Promise<ClusterSummary> {
  checkFileLimit(DEPLOYMENTS.length * (subscriberCount + options.publishers));
  const targets = new Map<Deployment, Target>();
  const summary: ClusterSummary = { subscribers: subscriberCount, rounds: [] };
  try {
    for (const deployment of DEPLOYMENTS) targets.set(deployment, await prepare(deployment, subscriberCount, services, options));
    for (const target of targets.values()) await runPass(target, loadedMessages(subscriberCount, options.messages), options.window, { channel: CHANNEL, ...options });
    for (let round = 0; round < options.rounds; round++) {
      // Rotate who goes first, so drift on the machine spreads over all three.
      const order = DEPLOYMENTS.map((_, index) => DEPLOYMENTS[(index + round) % DEPLOYMENTS.length]!);
      for (const deployment of order) {
        const result = await runRound(targets.get(deployment)!, services, options);
        summary.rounds.push(result);
        console.log(`  cluster S=${subscriberCount} round ${round + 1} ${deployment.padEnd(7)} ${describeClusterRound(result)}`);
      }
    }
  } finally {
    for (const target of targets.values()) await release(target);
  }
  return summary;
}

export async function runCluster(options: ClusterOptions): Promise<ClusterSummary[]> {
  console.log(
    `cluster: ${DEPLOYMENTS.join(", ")}; ${options.publishers} publisher(s) on the first node, ~${options.bodyBytes} B bodies, window ${options.window}, then ${options.latencyMessages} with window 1; ` +
      `${options.rounds} rounds rotating, subscribers ${options.subscribers.join(", ")}`,
  );
  const services = await openSharedServices(options.services);
  const summaries: ClusterSummary[] = [];
  try {
    for (const subscriberCount of options.subscribers) {
      console.log(`cluster S=${subscriberCount}: ${loadedMessages(subscriberCount, options.messages)} messages per loaded pass`);
      summaries.push(await runForSubscriberCount(subscriberCount, services, options));
    }
  } finally {
    await services.remove();
  }
  return summaries;
}
