// One fan-out pass, shared by the fanout and cluster scenarios: publish with a window, count every delivery, sample latency.

import type { RunningServer } from "./servers.ts";
import { percentile } from "./stats.ts";

export interface PassTarget {
  /** Whose name goes into error messages. */
  label: string;
  /** Every server process the pass loads; their CPU time is added up. */
  servers: RunningServer[];
  subscribers: WebSocket[];
  /** Messages go to them in turn; with more than one, only seq order is checked (publishers race each other). */
  publishers: WebSocket[];
  /**
   * Last seq each subscriber saw, kept across passes. When present every subscriber checks that seq
   * goes up by one (a cheap text scan, no JSON parse); otherwise only the samplers check.
   */
  lastSeq?: number[];
}

export interface PassSettings {
  channel: string;
  bodyBytes: number;
  /** Subscribers that parse every message for latency; the others only count, to keep the client cheap. */
  samplers: number;
  roundTimeoutMs: number;
}

export interface Pass {
  messages: number;
  deliveries: number;
  seconds: number;
  p50Ms: number;
  p99Ms: number;
  serverCpuSeconds: number;
  clientCpuSeconds: number;
  problems: string[];
}

// Short passes are at the mercy of scheduler noise and of the 10 ms resolution of the CPU counters.
const DELIVERIES_PER_PASS = 1_000_000;

/** Messages per loaded pass: as given, else enough for about a million deliveries (at least 1,000). */
export function loadedMessages(subscriberCount: number, messages: number | undefined): number {
  return messages ?? Math.max(1000, Math.ceil(DELIVERIES_PER_PASS / subscriberCount));
}

/** What the fanout and cluster scenarios report of every round. */
export interface RoundFigures {
  deliveriesPerSecond: number;
  /** Latency with the window full: mostly time spent queued behind earlier messages. */
  loadedP50Ms: number;
  loadedP99Ms: number;
  /** Latency with one message in flight (the next is sent once every subscriber has the last): one publication's path. */
  unloadedP50Ms: number;
  unloadedP99Ms: number;
  /** Share of one core the bench process (all clients) used in the loaded pass; near 1 means the client limited throughput. */
  clientBusy: number;
  /** Problems seen in the round (missing deliveries, gaps, errors); empty when clean. */
  problems: string[];
}

type UnloadedPass = Pick<Pass, "p50Ms" | "p99Ms" | "problems">;

/** The unloaded pass (window 1) that measures latency without queueing; NaN latencies when `latencyMessages` is 0. */
export function runUnloadedPass(target: PassTarget, latencyMessages: number, settings: PassSettings): Promise<UnloadedPass> {
  if (latencyMessages <= 0) return Promise.resolve({ p50Ms: Number.NaN, p99Ms: Number.NaN, problems: [] });
  return runPass(target, latencyMessages, 1, settings);
}

export function roundFigures(loaded: Pass, unloaded: UnloadedPass): RoundFigures {
  return {
    deliveriesPerSecond: loaded.deliveries / loaded.seconds,
    loadedP50Ms: loaded.p50Ms,
    loadedP99Ms: loaded.p99Ms,
    unloadedP50Ms: unloaded.p50Ms,
    unloadedP99Ms: unloaded.p99Ms,
    clientBusy: loaded.clientCpuSeconds / loaded.seconds,
    problems: [...loaded.problems, ...unloaded.problems],
  };
}

/** Indices of the sampling subscribers, spread evenly over the subscription order. */
function samplerIndices(subscriberCount: number, samplers: number): Set<number> {
  const count = Math.max(1, Math.min(subscriberCount, samplers));
  const indices = new Set<number>();
  for (let step = 0; step < count; step++) indices.add(Math.round(((step + 1) * subscriberCount) / count) - 1);
  return indices;
}

const SEQ_FIELD = '"seq":';

/** The seq of a publication frame, read from its text: agentwire writes `{"channel":C,"seq":N,...`. */
function seqOf(text: string): number {
  const at = text.indexOf(SEQ_FIELD);
  return at < 0 ? Number.NaN : Number.parseInt(text.slice(at + SEQ_FIELD.length, at + SEQ_FIELD.length + 20), 10);
}

/**
 * Publish `messages` messages and wait until every subscriber has every one. The window counts deliveries
 * still owed across all subscribers, not what one subscriber saw: the order in which a server walks a
 * topic's sockets differs from process to process, and pacing on one socket would make it matter.
 */
export function runPass(target: PassTarget, messages: number, window: number, settings: PassSettings): Promise<Pass> {
  const { subscribers, publishers, servers, lastSeq } = target;
  const singlePublisher = publishers.length === 1;
  const expected = subscribers.length * messages;
  const samplers = samplerIndices(subscribers.length, settings.samplers);
  const latencies = new Float64Array(samplers.size * messages);
  const body = "x".repeat(settings.bodyBytes);
  const problems: string[] = [];
  const cpuOfServers = () => servers.reduce((total, server) => total + server.cpuSeconds(), 0);
  let latencyCount = 0;
  let delivered = 0;
  let sent = 0;
  let publisherErrors = 0;

  return new Promise<Pass>((resolve, reject) => {
    const detach = () => {
      clearTimeout(timer);
      for (const socket of [...subscribers, ...publishers]) socket.onmessage = socket.onclose = null;
    };
    const finish = () => {
      const seconds = (performance.now() - startedAt) / 1000;
      const serverCpuSeconds = cpuOfServers() - serverCpuAtStart;
      const clientCpu = process.cpuUsage(clientCpuAtStart);
      detach();
      if (delivered < expected) problems.push(`${expected - delivered} of ${expected} deliveries missing after ${settings.roundTimeoutMs} ms`);
      if (publisherErrors > 0) problems.push(`${publisherErrors} error frames to the publisher`);
      const sample = latencies.subarray(0, latencyCount);
      resolve({
        messages,
        deliveries: delivered,
        seconds,
        p50Ms: percentile(sample, 50),
        p99Ms: percentile(sample, 99),
        serverCpuSeconds,
        clientCpuSeconds: (clientCpu.user + clientCpu.system) / 1e6,
        problems,
      });
    };
    const timer = setTimeout(finish, settings.roundTimeoutMs);

    const pump = () => {
      while (sent < messages && sent * subscribers.length - delivered < owedLimit) {
        publishers[sent % publishers.length]!.send(JSON.stringify({ channel: settings.channel, payload: { n: sent, sent: performance.now(), body } }));
        sent++;
      }
    };
    const owedLimit = window * subscribers.length;
    const count = () => {
      if (++delivered === expected) finish();
      else if (sent < messages && sent * subscribers.length - delivered < owedLimit) pump();
    };
    const reportGap = (index: number, previous: number | undefined, seq: number) => {
      if (problems.length < 10) problems.push(`subscriber ${index}: seq ${previous} then ${seq}`);
    };

    // A closed socket (slow-consumer close, crashed server) can never catch up: stop instead of waiting out the timeout.
    const closed = (who: string) => (event: CloseEvent) => {
      detach();
      reject(new Error(`${target.label}: ${who} closed with ${event.code} ${event.reason}`.trim()));
    };
    publishers.forEach((publisher, index) => {
      publisher.onclose = closed(`publisher ${index}`);
      publisher.onmessage = () => publisherErrors++;
    });
    subscribers.forEach((socket, index) => {
      socket.onclose = closed(`subscriber ${index}`);
      if (!samplers.has(index)) {
        socket.onmessage = lastSeq
          ? (event) => {
              const seq = seqOf(event.data as string);
              if (seq !== lastSeq[index]! + 1) reportGap(index, lastSeq[index], seq);
              lastSeq[index] = seq;
              count();
            }
          : count;
        return;
      }
      let previousSeq: number | undefined = lastSeq?.[index];
      let lastNumber = -1;
      socket.onmessage = (event) => {
        const receivedAt = performance.now();
        const frame = JSON.parse(String(event.data)) as { seq: number; payload: { n: number; sent: number } };
        latencies[latencyCount++] = receivedAt - frame.payload.sent;
        const inOrder = (previousSeq === undefined || frame.seq === previousSeq + 1) && (!singlePublisher || frame.payload.n === lastNumber + 1);
        if (!inOrder && problems.length < 10) {
          problems.push(`subscriber ${index}: seq ${previousSeq} then ${frame.seq}, message ${lastNumber} then ${frame.payload.n}`);
        }
        previousSeq = frame.seq;
        if (lastSeq) lastSeq[index] = frame.seq;
        lastNumber = frame.payload.n;
        count();
      };
    });

    const serverCpuAtStart = cpuOfServers();
    const clientCpuAtStart = process.cpuUsage();
    const startedAt = performance.now();
    pump();
  });
}
