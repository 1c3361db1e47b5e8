// Scenario "runs": many agent runs at once against a fixed-rate fake model, each watched by several connections.

import { checkFileLimit, closeAll, connect, openMany, signToken } from "./clients.ts";
import { startFakeModel, type FakeAnswer, type FakeModel } from "./fake-model.ts";
import { describeFloor, floorAnswer, measureFloor } from "./model-stream-floor.ts";
import { Peer, type Frame } from "./peer.ts";
import { describeRunsPass } from "./runs-report.ts";
import { startServer, type RunningServer } from "./servers.ts";
import { median, percentile } from "./stats.ts";
import { monitorUsage } from "./usage-monitor.ts";

export interface RunsOptions {
  /** Runs started at once, one pass each. */
  runs: number[];
  tokensPerSecond: number;
  /** Tokens per answer; with the rate, how long every run streams. */
  answerTokens: number;
  /** Connections watching each run besides its sender. */
  watchers: number;
  /** COALESCE_MS values; each gets a server of its own. */
  coalesceMs: number[];
  rounds: number;
  connectBatch: number;
}

export interface RunsPass {
  coalesceMs: number;
  runs: number;
  subscribersPerRun: number;
  /** Most answers the fake model streamed at once: the runs the server really held concurrently. */
  concurrentRuns: number;
  /** Runs whose final event every subscriber received, exact. */
  completedRuns: number;
  /** Thread frames received by all subscribers, from the first token sent to the last final event received. */
  framesPerSecond: number;
  /** Tokens per second each run's answer actually left the fake at (median over runs). */
  tokenRate: number;
  /** From the fake handing a token to its HTTP response to a subscriber receiving the frame that completes it. */
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  /** With coalescing the latencies have two modes (first token of a frame vs later ones), so the mean says more than p50. */
  meanMs: number;
  serverCoreShare: number;
  clientCoreShare: number;
  /** Server RSS with every connection open and no run, then at its highest during the pass. */
  idleRss: number;
  peakRss: number;
  /**
   * CPU (share of one core) of a process that only reads the same number of answers from the same
   * fake model with the official openai package, no agentwire: the floor the stack sets.
   */
  floorCoreShare?: number;
  problems: string[];
}

const TOKEN_CHARS = 4;
const WARMUP_RUNS = 20;
const WARMUP_TOKENS = 25;
/** Seconds of the steady stream over which the floor (measureFloor) is measured. */
const FLOOR_SECONDS = 3;

/** A different text for every run, so a delta delivered to the wrong thread shows up as a mismatch. */
function answerTokens(key: number, count: number): string[] {
  const tokens: string[] = [];
  let state = (key * 2654435761) >>> 0 || 1;
  for (let index = 0; index < count; index++) {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    state >>>= 0;
    tokens.push((state % 36 ** (TOKEN_CHARS - 1)).toString(36).padStart(TOKEN_CHARS - 1, "0") + " ");
  }
  return tokens;
}

interface Setup {
  server: RunningServer;
  httpUrl: string;
  fake: FakeModel;
  senders: Peer[];
  senderTokens: string[];
  watchers: Peer[];
  options: RunsOptions;
  /** Server RSS with every connection open and no run yet. */
  idleRss: number;
}

/** One subscriber of one run, and what it has received so far. */
interface Watch {
  channel: string;
  expected: string;
  answer: FakeAnswer;
  who: string;
  lastSeq: number;
  text: string;
  tokensReceived: number;
  done: boolean;
}

let runKeys = 0;

async function createThread(httpUrl: string, token: string): Promise<string> {
  const response = await fetch(`${httpUrl}/threads`, {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: JSON.stringify({ title: "bench" }),
    signal: AbortSignal.timeout(10_000),
  });
  if (response.status !== 201) throw new Error(`POST /threads answered ${response.status}: ${await response.text()}`);
  return ((await response.json()) as { id: string }).id;
}

async function runPass(setup: Setup, runCount: number, tokenCount: number, coalesceMs: number): Promise<RunsPass> {
  const { server, fake, senders, watchers } = setup;
  const watcherCount = setup.options.watchers;
  const problems: string[] = [];
  const problem = (text: string) => void (problems.length < 10 && problems.push(text));

  const plans = await Promise.all(
    Array.from({ length: runCount }, async (_, index) => {
      const key = ++runKeys;
      const prompt = `bench-run ${key}`;
      const tokens = answerTokens(key, tokenCount);
      const threadId = await createThread(setup.httpUrl, setup.senderTokens[index]!);
      return { index, prompt, threadId, channel: `thread:${threadId}`, expected: tokens.join(""), answer: fake.register(prompt, tokens) };
    }),
  );

  const latencies = new Float64Array(runCount * (1 + watcherCount) * tokenCount);
  let latencyCount = 0;
  let frames = 0;
  let lastFinalAt = 0;
  let remaining = runCount * (1 + watcherCount);
  const allDone = Promise.withResolvers<void>();
  const watches: Watch[] = [];

  const follow = (peer: Peer, plan: (typeof plans)[number], who: string) => {
    const watch: Watch = { channel: plan.channel, expected: plan.expected, answer: plan.answer, who, lastSeq: 0, text: "", tokensReceived: 0, done: false };
    watches.push(watch);
    peer.onFrame = (frame: Frame, receivedAt: number) => {
      if (frame.channel !== watch.channel) {
        if (frame.channel === "error") problem(`${who}: error ${JSON.stringify(frame.payload)}`);
        return;
      }
      frames++;
      if (frame.seq !== watch.lastSeq + 1) problem(`${who}: seq ${watch.lastSeq} then ${frame.seq}`);
      watch.lastSeq = frame.seq ?? watch.lastSeq;
      const payload = frame.payload;
      if (payload.final_message === true) {
        if (watch.done) return problem(`${who}: a second final event`);
        if (payload.status !== "completed") problem(`${who}: run ended ${payload.status}: ${payload.message}`);
        else if (payload.message !== watch.expected) problem(`${who}: final message differs from the streamed answer`);
        if (watch.text !== watch.expected) problem(`${who}: deltas add up to ${watch.text.length} characters, not the ${watch.expected.length} streamed`);
        watch.done = true;
        lastFinalAt = receivedAt;
        if (--remaining === 0) allDone.resolve();
        return;
      }
      if (payload.type !== "response" || payload.status !== "in_progress") return;
      watch.text += payload.message as string;
      // Tokens have a fixed length, so the text received so far says which tokens this frame completed.
      const complete = Math.min(watch.answer.tokens.length, Math.floor(watch.text.length / TOKEN_CHARS));
      for (; watch.tokensReceived < complete; watch.tokensReceived++) {
        latencies[latencyCount++] = receivedAt - watch.answer.emittedAt[watch.tokensReceived]!;
      }
    };
  };

  await Promise.all(
    plans.map(async (plan) => {
      follow(senders[plan.index]!, plan, `run ${plan.index} sender`);
      for (let offset = 0; offset < watcherCount; offset++) {
        const peer = watchers[plan.index * watcherCount + offset]!;
        follow(peer, plan, `run ${plan.index} watcher ${offset}`);
        const ack = await peer.request("subscription", { action: "subscribe", channel: plan.channel });
        if (ack.seq !== 0) problem(`run ${plan.index} watcher ${offset}: subscribed at seq ${ack.seq}, not 0`);
      }
    }),
  );

  const deadlineMs = (tokenCount / setup.options.tokensPerSecond) * 1000 + 30_000;
  const timer = setTimeout(() => allDone.resolve(), deadlineMs);
  fake.takePeakStreams();
  const monitor = monitorUsage([server]);
  let completedRuns = 0;
  try {
    await Promise.all(
      plans.map(async (plan) => {
        try {
          const ack = await senders[plan.index]!.request("chat", { action: "send", thread_id: plan.threadId, content: plan.prompt, use_reasoning: false });
          if (ack.status !== "accepted") problem(`run ${plan.index}: send answered ${JSON.stringify(ack)}`);
        } catch (error) {
          problem(`run ${plan.index}: send failed: ${(error as Error).message}`);
          const mine = watches.filter((watch) => watch.channel === plan.channel && !watch.done);
          for (const watch of mine) watch.done = true;
          remaining -= mine.length;
          if (remaining === 0) allDone.resolve();
        }
      }),
    );
    await allDone.promise;
  } finally {
    clearTimeout(timer);
  }
  const usage = monitor.stop();
  const concurrentRuns = fake.takePeakStreams();
  if (remaining > 0) problem(`${remaining} subscribers had no final event after ${deadlineMs} ms`);
  for (const plan of plans) {
    const exact = watches.filter((watch) => watch.channel === plan.channel).every((watch) => watch.done && watch.text === watch.expected);
    if (exact) completedRuns++;
  }

  const firstTokenAt = Math.min(...plans.map((plan) => plan.answer.emittedAt[0]!));
  const rates = plans.map((plan) => {
    const emitted = plan.answer.emittedAt;
    return ((emitted.length - 1) * 1000) / (emitted[emitted.length - 1]! - emitted[0]!);
  });
  // Leave every thread channel, so the next pass starts from connections holding nothing.
  await Promise.all(
    plans.map(async (plan) => {
      fake.forget(plan.prompt);
      const peers = [senders[plan.index]!, ...watchers.slice(plan.index * watcherCount, (plan.index + 1) * watcherCount)];
      for (const peer of peers) {
        peer.onFrame = () => {};
        await peer.request("subscription", { action: "unsubscribe", channel: plan.channel });
      }
    }),
  );
  const sample = latencies.subarray(0, latencyCount);
  return {
    coalesceMs,
    runs: runCount,
    subscribersPerRun: 1 + watcherCount,
    concurrentRuns,
    completedRuns,
    framesPerSecond: (frames * 1000) / (lastFinalAt - firstTokenAt),
    tokenRate: median(rates),
    p50Ms: percentile(sample, 50),
    p99Ms: percentile(sample, 99),
    maxMs: percentile(sample, 100),
    meanMs: sample.reduce((total, value) => total + value, 0) / sample.length,
    serverCoreShare: usage.serverCoreShare,
    clientCoreShare: usage.clientCoreShare,
    idleRss: setup.idleRss,
    peakRss: usage.peakRss,
    problems,
  };
}

/** The settings of an agentwire server whose agent answers from `fake`, for `runCount` runs at once. */
export function agentSettings(fake: FakeModel, runCount: number): Record<string, string> {
  return {
    OPENAI_BASE_URL: fake.url,
    OPENAI_API_KEY: "sk-bench-not-a-key",
    AGENT_MODEL: "bench-fixed-rate",
    // A failing model request should show up as a problem at once, not after backoff.
    MODEL_MAX_RETRIES: "0",
    // Bun's fetch holds 256 requests at once unless told otherwise at start (docs/deploy.md#sizing):
    // every run is one streaming model request.
    BUN_CONFIG_MAX_HTTP_REQUESTS: String(Math.min(65_535, runCount + 256)),
  };
}

/** A fresh server per run count, so its RSS figures are not inherited from a bigger pass before it. */
async function openSetup(coalesceMs: number, runCount: number, fake: FakeModel, options: RunsOptions): Promise<Setup> {
  const server = await startServer("agentwire", { ...agentSettings(fake, runCount), COALESCE_MS: String(coalesceMs) });
  const peers: Peer[] = [];
  try {
    // One user per run: agentwire limits concurrent runs per user (MAX_RUNS_PER_USER).
    const senderTokens = await Promise.all(Array.from({ length: runCount }, (_, index) => signToken({ sub: `runner-${index}` })));
    const watcherToken = await signToken({ sub: "watcher", subscribe: ["thread:*"] });
    const senderSockets = await openMany(runCount, options.connectBatch, (index) => connect(server.url, senderTokens[index]));
    peers.push(...senderSockets.map((socket) => new Peer(socket)));
    const watcherSockets = await openMany(runCount * options.watchers, options.connectBatch, () => connect(server.url, watcherToken));
    peers.push(...watcherSockets.map((socket) => new Peer(socket)));
    return {
      server,
      httpUrl: `http://127.0.0.1:${server.port}`,
      fake,
      senders: peers.slice(0, runCount),
      senderTokens,
      watchers: peers.slice(runCount),
      options,
      idleRss: 0,
    };
  } catch (error) {
    await closeAll(peers.map((peer) => peer.socket));
    await server.stop();
    throw error;
  }
}

async function closeSetup(setup: Setup): Promise<void> {
  await closeAll([...setup.senders, ...setup.watchers].map((peer) => peer.socket));
  await setup.server.stop();
}

export async function runRuns(options: RunsOptions): Promise<RunsPass[]> {
  const maxRuns = Math.max(...options.runs);
  // The bench holds every sender and watcher socket, plus the fake model's side of each streaming request.
  checkFileLimit(maxRuns * (2 + options.watchers));
  console.log(
    `runs: ${options.runs.join(", ")} runs at once, ${options.answerTokens} tokens of ${TOKEN_CHARS} characters at ${options.tokensPerSecond} tokens/s each, ` +
      `sender + ${options.watchers} watchers per run, COALESCE_MS ${options.coalesceMs.join(", ")}, ${options.rounds} rounds on a fresh server per run count`,
  );
  const fake = startFakeModel(options.tokensPerSecond, floorAnswer);
  const passes: RunsPass[] = [];
  try {
    for (const coalesceMs of options.coalesceMs) {
      for (const runCount of options.runs) {
        const setup = await openSetup(coalesceMs, runCount, fake, options);
        try {
          // A moment for the connection burst's garbage to go, so "idle" means connections only.
          await Bun.sleep(500);
          setup.idleRss = setup.server.rss();
          // Unrecorded, so JIT warm-up and the first database writes land in no figure.
          await runPass(setup, Math.min(runCount, WARMUP_RUNS), WARMUP_TOKENS, coalesceMs);
          for (let round = 0; round < options.rounds; round++) {
            Bun.gc(true);
            const pass = await runPass(setup, runCount, options.answerTokens, coalesceMs);
            passes.push(pass);
            console.log(`  runs COALESCE_MS=${coalesceMs} round ${round + 1} ${describeRunsPass(pass)}`);
          }
        } finally {
          await closeSetup(setup);
        }
      }
    }
    // Once per run count, with no agentwire server running: coalescing does not change what reading costs.
    for (const runCount of options.runs) {
      const floor = await measureFloor("openai", fake.url, runCount, FLOOR_SECONDS, options.tokensPerSecond);
      console.log(`  runs: the same answers read by the openai package alone, no agentwire: ${describeFloor(floor)}`);
      for (const pass of passes) if (pass.runs === runCount) pass.floorCoreShare = floor.coreShare;
    }
  } finally {
    await fake.close();
  }
  if (fake.unknownPrompts > 0) console.log(`  runs: the fake model got ${fake.unknownPrompts} requests for prompts it did not know`);
  return passes;
}
