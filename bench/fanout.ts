// Scenario "fanout": one publisher, S subscribers on one channel; delivered messages/s and publish-to-receive latency.

import { checkFileLimit, closeAll, connect, connectAndSubscribe, openMany } from "./clients.ts";
import { SERVER_KINDS, startServer, type RunningServer, type ServerKind } from "./servers.ts";
import { describeRound } from "./fanout-report.ts";
import { percentile } from "./stats.ts";

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

/** One pass: `messages` publications with at most `window` in flight. */
interface Pass {
  deliveries: number;
  seconds: number;
  p50Ms: number;
  p99Ms: number;
  serverCpuSeconds: number;
  clientCpuSeconds: number;
  problems: string[];
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

/** Indices of the sampling subscribers, spread evenly over the subscription order. */
function samplerIndices(subscriberCount: number, samplers: number): Set<number> {
  const count = Math.max(1, Math.min(subscriberCount, samplers));
  const indices = new Set<number>();
  for (let step = 0; step < count; step++) indices.add(Math.round(((step + 1) * subscriberCount) / count) - 1);
  return indices;
}

/**
 * Publish `messages` messages and wait until every subscriber has every one. The window counts deliveries
 * still owed across all subscribers, not what one subscriber saw: the order in which a server walks a
 * topic's sockets differs from process to process, and pacing on one socket would make it matter.
 */
function runPass(target: Target, messages: number, window: number, options: FanoutOptions): Promise<Pass> {
  const { subscribers, publisher, server } = target;
  const expected = subscribers.length * messages;
  const samplers = samplerIndices(subscribers.length, options.samplers);
  const latencies = new Float64Array(samplers.size * messages);
  const body = "x".repeat(options.bodyBytes);
  const problems: string[] = [];
  let latencyCount = 0;
  let delivered = 0;
  let sent = 0;
  let publisherErrors = 0;

  return new Promise<Pass>((resolve, reject) => {
    const detach = () => {
      clearTimeout(timer);
      for (const socket of [...subscribers, publisher]) socket.onmessage = socket.onclose = null;
    };
    const finish = () => {
      const seconds = (performance.now() - startedAt) / 1000;
      const serverCpuSeconds = server.cpuSeconds() - serverCpuAtStart;
      const clientCpu = process.cpuUsage(clientCpuAtStart);
      detach();
      if (delivered < expected) problems.push(`${expected - delivered} of ${expected} deliveries missing after ${options.roundTimeoutMs} ms`);
      if (publisherErrors > 0) problems.push(`${publisherErrors} error frames to the publisher`);
      const sample = latencies.subarray(0, latencyCount);
      resolve({
        deliveries: delivered,
        seconds,
        p50Ms: percentile(sample, 50),
        p99Ms: percentile(sample, 99),
        serverCpuSeconds,
        clientCpuSeconds: (clientCpu.user + clientCpu.system) / 1e6,
        problems,
      });
    };
    const timer = setTimeout(finish, options.roundTimeoutMs);

    const pump = () => {
      while (sent < messages && sent * subscribers.length - delivered < owedLimit) {
        publisher.send(JSON.stringify({ channel: CHANNEL, payload: { n: sent, sent: performance.now(), body } }));
        sent++;
      }
    };
    const owedLimit = window * subscribers.length;
    const count = () => {
      if (++delivered === expected) finish();
      else if (sent < messages && sent * subscribers.length - delivered < owedLimit) pump();
    };

    // A closed socket (slow-consumer close, crashed server) can never catch up: stop instead of waiting out the timeout.
    const closed = (who: string) => (event: CloseEvent) => {
      detach();
      reject(new Error(`${server.kind}: ${who} closed with ${event.code} ${event.reason}`.trim()));
    };
    publisher.onclose = closed("the publisher");
    subscribers.forEach((socket, index) => {
      socket.onclose = closed(`subscriber ${index}`);
      if (!samplers.has(index)) {
        socket.onmessage = count;
        return;
      }
      let lastSeq: number | undefined;
      let lastNumber = -1;
      socket.onmessage = (event) => {
        const receivedAt = performance.now();
        const frame = JSON.parse(String(event.data)) as { seq: number; payload: { n: number; sent: number } };
        latencies[latencyCount++] = receivedAt - frame.payload.sent;
        const inOrder = (lastSeq === undefined || frame.seq === lastSeq + 1) && frame.payload.n === lastNumber + 1;
        if (!inOrder && problems.length < 10) {
          problems.push(`subscriber ${index}: seq ${lastSeq} then ${frame.seq}, message ${lastNumber} then ${frame.payload.n}`);
        }
        lastSeq = frame.seq;
        lastNumber = frame.payload.n;
        count();
      };
    });
    publisher.onmessage = () => publisherErrors++;

    const serverCpuAtStart = server.cpuSeconds();
    const clientCpuAtStart = process.cpuUsage();
    const startedAt = performance.now();
    pump();
  });
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
