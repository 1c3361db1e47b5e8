// Scenario "fanout": one publisher, S subscribers on one channel; delivered messages/s and publish-to-receive latency.

import { checkFileLimit, closeAll, connect, connectAndSubscribe, openMany } from "./clients.ts";
import { SERVER_KINDS, startServer, type RunningServer, type ServerKind } from "./servers.ts";
import { describeRound } from "./fanout-report.ts";
import { loadedMessages, roundFigures, runPass as runSharedPass, runUnloadedPass, type Pass, type PassTarget, type RoundFigures } from "./fanout-pass.ts";

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

export interface FanoutRound extends RoundFigures {
  kind: ServerKind;
  subscribers: number;
  /** Server CPU time (user + system) per delivery in the loaded pass; counts even when the client is the bottleneck. */
  serverNanosPerDelivery: number;
}

export interface FanoutSummary {
  subscribers: number;
  agentwire: FanoutRound[];
  baseline: FanoutRound[];
}

const CHANNEL = "bench";

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

function passTarget({ server, subscribers, publisher }: Target): PassTarget {
  return { label: server.kind, servers: [server], subscribers, publishers: [publisher] };
}

function runPass(target: Target, messages: number, window: number, options: FanoutOptions): Promise<Pass> {
  return runSharedPass(passTarget(target), messages, window, { channel: CHANNEL, ...options });
}

/** A loaded pass for throughput, then an unloaded one for latency. */
async function runRound(target: Target, options: FanoutOptions): Promise<FanoutRound> {
  Bun.gc(true);
  const loaded = await runPass(target, loadedMessages(target.subscribers.length, options.messages), options.window, options);
  const unloaded = await runUnloadedPass(passTarget(target), options.latencyMessages, { channel: CHANNEL, ...options });
  return {
    kind: target.server.kind,
    subscribers: target.subscribers.length,
    ...roundFigures(loaded, unloaded),
    serverNanosPerDelivery: (loaded.serverCpuSeconds * 1e9) / loaded.deliveries,
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
    for (const target of targets.values()) await runPass(target, loadedMessages(subscriberCount, options.messages), options.window, options);
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
    console.log(`fanout S=${subscriberCount}: ${loadedMessages(subscriberCount, options.messages)} messages per loaded pass`);
    summaries.push(await runForSubscriberCount(subscriberCount, options));
  }
  return summaries;
}
