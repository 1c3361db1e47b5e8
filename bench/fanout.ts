// Scenario "fanout": one publisher, S subscribers on one channel; delivered messages/s and publish-to-receive latency.

import { checkFileLimit, closeAll, connect, connectAndSubscribe, openMany } from "./clients.ts";
import { SERVER_KINDS, startServer, type RunningServer, type ServerKind } from "./servers.ts";
import { describeRound } from "./fanout-report.ts";
import { runPass as runSharedPass, type Pass } from "./fanout-pass.ts";

export interface FanoutOptions {
  subscribers: number[];
  /** Messages per loaded pass; undefined picks enough for about a million deliveries. */
  messages: number | undefined;
  rounds: number;
  /** Messages in flight at most, counted as deliveries still owed divided by the subscriber count. */
  window: number;
  bodyBytes: number;
  /** Subscribers that parse every message for latency; the others only count, to keep the client cheap. */
  samplers: number;
  /** Messages of the unloaded pass (window 1) that measures latency without queueing; 0 skips it. */
  latencyMessages: number;
  connectBatch: number;
  roundTimeoutMs: number;
}

export interface FanoutRound {
  kind: ServerKind;
  subscribers: number;
  deliveriesPerSecond: number;
  /** Latency with the window full: mostly time spent queued behind earlier messages. */
  loadedP50Ms: number;
  loadedP99Ms: number;
  /** Latency with one message in flight (the next is sent once every subscriber has the last): one publication's path. */
  unloadedP50Ms: number;
  unloadedP99Ms: number;
  /** Server CPU time (user + system) per delivery in the loaded pass; counts even when the client is the bottleneck. */
  serverNanosPerDelivery: number;
  /** Share of one core the bench process (all clients) used in the loaded pass; near 1 means the client limited throughput. */
  clientBusy: number;
  /** Problems seen in the round (missing deliveries, gaps, errors); empty when clean. */
  problems: string[];
}

export interface FanoutSummary {
  subscribers: number;
  agentwire: FanoutRound[];
  baseline: FanoutRound[];
}

const CHANNEL = "bench";
// Short passes are at the mercy of scheduler noise and of the 10 ms resolution of the CPU counters.
const DELIVERIES_PER_PASS = 1_000_000;

function messagesFor(subscriberCount: number, options: FanoutOptions): number {
  return options.messages ?? Math.max(1000, Math.ceil(DELIVERIES_PER_PASS / subscriberCount));
}

interface Target {
  server: RunningServer;
  subscribers: WebSocket[];
  publisher: WebSocket;
}

async function prepare(kind: ServerKind, subscriberCount: number, options: FanoutOptions): Promise<Target> {
  const server = await startServer(kind);
  try {
    const subscribers = await openMany(subscriberCount, options.connectBatch, () => connectAndSubscribe(server.url, CHANNEL));
    const publisher = await connect(server.url).catch(async (error) => {
      await closeAll(subscribers);
      throw error;
    });
    return { server, subscribers, publisher };
  } catch (error) {
    await server.stop();
    throw error;
  }
}

async function release(target: Target): Promise<void> {
  await closeAll([...target.subscribers, target.publisher]);
  await target.server.stop();
}

function runPass(target: Target, messages: number, window: number, options: FanoutOptions): Promise<Pass> {
  const { server, subscribers, publisher } = target;
  return runSharedPass({ label: server.kind, servers: [server], subscribers, publishers: [publisher] }, messages, window, { channel: CHANNEL, ...options });
}

/** A loaded pass for throughput, then an unloaded one for latency. */
async function runRound(target: Target, options: FanoutOptions): Promise<FanoutRound> {
  Bun.gc(true);
  const loaded = await runPass(target, messagesFor(target.subscribers.length, options), options.window, options);
  const unloaded =
    options.latencyMessages > 0 ? await runPass(target, options.latencyMessages, 1, options) : { p50Ms: Number.NaN, p99Ms: Number.NaN, problems: [] };
  return {
    kind: target.server.kind,
    subscribers: target.subscribers.length,
    deliveriesPerSecond: loaded.deliveries / loaded.seconds,
    loadedP50Ms: loaded.p50Ms,
    loadedP99Ms: loaded.p99Ms,
    unloadedP50Ms: unloaded.p50Ms,
    unloadedP99Ms: unloaded.p99Ms,
    serverNanosPerDelivery: (loaded.serverCpuSeconds * 1e9) / loaded.deliveries,
    clientBusy: loaded.clientCpuSeconds / loaded.seconds,
    problems: [...loaded.problems, ...unloaded.problems],
  };
}

async function runForSubscriberCount(subscriberCount: number, options: FanoutOptions): Promise<FanoutSummary> {
  // Both servers keep their subscribers for all rounds, so the bench holds both sets at once.
  checkFileLimit(SERVER_KINDS.length * (subscriberCount + 1));
  const targets = new Map<ServerKind, Target>();
  const summary: FanoutSummary = { subscribers: subscriberCount, agentwire: [], baseline: [] };
  try {
    for (const kind of SERVER_KINDS) targets.set(kind, await prepare(kind, subscriberCount, options));
    // An unrecorded pass each, so JIT warm-up lands in neither server's figures.
    for (const target of targets.values()) await runPass(target, messagesFor(subscriberCount, options), options.window, options);
    for (let round = 0; round < options.rounds; round++) {
      // Alternate who goes first so drift on the machine (thermal, other load) hits both alike.
      const order = round % 2 === 0 ? SERVER_KINDS : [...SERVER_KINDS].reverse();
      for (const kind of order) {
        const result = await runRound(targets.get(kind)!, options);
        summary[kind].push(result);
        console.log(`  fanout S=${subscriberCount} round ${round + 1} ${kind.padEnd(9)} ${describeRound(result)}`);
      }
    }
  } finally {
    for (const target of targets.values()) await release(target);
  }
  return summary;
}

export async function runFanout(options: FanoutOptions): Promise<FanoutSummary[]> {
  const summaries: FanoutSummary[] = [];
  console.log(
    `fanout: messages with a ~${options.bodyBytes} B body, window ${options.window}, then ${options.latencyMessages} ` +
      `with window 1; ${options.rounds} rounds per server alternating, subscribers ${options.subscribers.join(", ")}`,
  );
  for (const subscriberCount of options.subscribers) {
    console.log(`fanout S=${subscriberCount}: ${messagesFor(subscriberCount, options)} messages per loaded pass`);
    summaries.push(await runForSubscriberCount(subscriberCount, options));
  }
  return summaries;
}
