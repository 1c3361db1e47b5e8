// Scenario "sse": N SSE readers against N WebSocket subscribers on the same agentwire server, the
// readers held and parsed by load-generator processes; server CPU per delivery and RSS per reader.

import type { Subprocess } from "bun";
import { checkFileLimit, closeAll, connect, token } from "./clients.ts";
import { settledRss } from "./memory.ts";
import { loadedMessages } from "./fanout-pass.ts";
import { startServer, type RunningServer } from "./servers.ts";
import type { LoadgenReport, LoadgenRequest, ReaderKind } from "./sse-loadgen-messages.ts";
import { describeSseRound } from "./sse-report.ts";

export interface SseOptions {
  readers: number[];
  /** Fresh servers per reader count; each measures memory, then fan-out passes in both orders. */
  rounds: number;
  /** Load-generator processes the readers are spread over. */
  loadgens: number;
  /** Messages per loaded pass; undefined picks enough for about a million deliveries. */
  messages: number | undefined;
  /** Messages in flight at most: published but not yet at every reader. */
  window: number;
  bodyBytes: number;
  /** Readers of each kind opened before the first RSS reading, on channels never published to. */
  warmupReaders: number;
  settleMs: number;
  connectBatch: number;
  passTimeoutMs: number;
}

export const READER_KINDS: readonly ReaderKind[] = ["ws", "sse"];

export interface SsePass {
  kind: ReaderKind;
  readers: number;
  deliveries: number;
  deliveriesPerSecond: number;
  serverNanosPerDelivery: number;
  /** Load generators' CPU over the pass as a share of one core, all together. */
  loadgenBusy: number;
  problems: string[];
}

export interface SseMemory {
  kind: ReaderKind;
  readers: number;
  /** Whether this kind's readers were opened before the other kind's on that server. */
  first: boolean;
  bytesPerReader: number;
}

export interface SseSummary {
  readers: number;
  passes: SsePass[];
  memory: SseMemory[];
}

const channelOf = (kind: ReaderKind) => `bench-${kind}`;

/** One load-generator process, driven by commands that each resolve with their answer. */
class Loadgen {
  private nextId = 0;
  private readonly waiting = new Map<number, { resolve: (report: LoadgenReport) => void; reject: (error: Error) => void }>();
  /** Highest seq every reader of the channel in this process has. */
  readonly complete = new Map<string, number>();
  onProgress: () => void = () => {};
  readonly problems: string[] = [];
  readonly ready: Promise<void>;
  private readonly child: Subprocess;

  constructor(readerBudget: number) {
    let markReady!: () => void;
    this.ready = new Promise((resolve) => (markReady = resolve));
    this.child = Bun.spawn([process.execPath, "run", new URL("./sse-loadgen.ts", import.meta.url).pathname], {
      // Bun's fetch holds 256 requests at once by default; every SSE reader is one that never ends.
      env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "/tmp", BUN_CONFIG_MAX_HTTP_REQUESTS: String(Math.min(65_535, readerBudget + 256)) },
      stdio: ["ignore", "inherit", "inherit"],
      ipc: (report: LoadgenReport) => {
        if (report.type === "ready") return markReady();
        if (report.type === "complete") {
          this.complete.set(report.channel, report.seq);
          return this.onProgress();
        }
        if (report.type === "problem") return void (this.problems.length < 10 && this.problems.push(report.text));
        const request = this.waiting.get(report.id);
        this.waiting.delete(report.id);
        if (report.type === "failed") request?.reject(new Error(report.text));
        else request?.resolve(report);
      },
    });
    loadgens.add(this.child);
    void this.child.exited.then((code) => {
      for (const request of this.waiting.values()) request.reject(new Error(`load generator exited with ${code}`));
      this.waiting.clear();
    });
  }

  request<T extends LoadgenReport>(command: LoadgenRequest): Promise<T> {
    const id = ++this.nextId;
    return new Promise<T>((resolve, reject) => {
      this.waiting.set(id, { resolve: resolve as (report: LoadgenReport) => void, reject });
      this.child.send({ ...command, id });
    });
  }

  async cpuSeconds(): Promise<number> {
    return (await this.request<Extract<LoadgenReport, { type: "cpu" }>>({ type: "cpu" })).seconds;
  }

  /** Closes every reader; the next server starts its seqs from 0. */
  async reset(): Promise<void> {
    await this.request({ type: "close" });
    this.complete.clear();
    this.problems.length = 0;
  }

  stop(): void {
    this.child.kill();
    loadgens.delete(this.child);
  }
}

const loadgens = new Set<Subprocess>();
process.on("exit", () => {
  for (const child of loadgens) child.kill("SIGKILL");
});

/** Opens `count` readers of `kind` spread evenly over the load generators, one batch at a time in each. */
async function openReaders(generators: Loadgen[], server: RunningServer, kind: ReaderKind, channel: string, count: number, batch: number): Promise<void> {
  const tokenText = await token();
  await Promise.all(
    generators.map((generator, index) => {
      const share = Math.floor(count / generators.length) + (index < count % generators.length ? 1 : 0);
      if (share === 0) return undefined;
      return generator.request({
        type: "open",
        kind,
        count: share,
        // The load generators connect at the same time: the server sees at most `batch` handshakes at once.
        batch: Math.max(1, Math.floor(batch / generators.length)),
        channel,
        token: tokenText,
        wsUrl: server.url,
        httpUrl: `http://127.0.0.1:${server.port}`,
      });
    }),
  );
}

/** Publishes `messages` to the kind's channel with at most `window` not yet at every reader, and waits for all. */
async function runPass(kind: ReaderKind, readers: number, generators: Loadgen[], server: RunningServer, publisher: WebSocket, firstSeq: number, messages: number, options: SseOptions): Promise<SsePass> {
  const channel = channelOf(kind);
  const body = "x".repeat(options.bodyBytes);
  const lastSeq = firstSeq + messages - 1;
  const allHave = () => Math.min(...generators.map((generator) => generator.complete.get(channel) ?? 0));
  const loadgenCpuAtStart = await Promise.all(generators.map((generator) => generator.cpuSeconds()));
  let sent = 0;
  let serverCpuAtStart = 0;
  let startedAt = 0;
  const done = new Promise<boolean>((resolve) => {
    const timer = setTimeout(() => resolve(false), options.passTimeoutMs);
    const pump = () => {
      const have = allHave();
      if (have >= lastSeq) {
        clearTimeout(timer);
        return resolve(true);
      }
      while (sent < messages && firstSeq + sent - 1 - have < options.window) {
        publisher.send(JSON.stringify({ channel, payload: { n: sent, body } }));
        sent++;
      }
    };
    for (const generator of generators) generator.onProgress = pump;
    // Start from now: neither clock includes the wait for the load generators' CPU figures above.
    serverCpuAtStart = server.cpuSeconds();
    startedAt = performance.now();
    pump();
  });
  const finished = await done;
  const seconds = (performance.now() - startedAt) / 1000;
  const serverCpuSeconds = server.cpuSeconds() - serverCpuAtStart;
  for (const generator of generators) generator.onProgress = () => {};
  const loadgenCpu = (await Promise.all(generators.map((generator) => generator.cpuSeconds()))).reduce((total, cpu, index) => total + cpu - loadgenCpuAtStart[index]!, 0);
  const delivered = (Math.min(allHave(), lastSeq) - firstSeq + 1) * readers;
  const problems = generators.flatMap((generator) => generator.problems.splice(0));
  if (!finished) problems.push(`${messages * readers - delivered} of ${messages * readers} deliveries missing after ${options.passTimeoutMs} ms`);
  return {
    kind,
    readers,
    deliveries: delivered,
    deliveriesPerSecond: delivered / seconds,
    serverNanosPerDelivery: (serverCpuSeconds * 1e9) / delivered,
    loadgenBusy: loadgenCpu / seconds,
    problems,
  };
}

/** One fresh server: warm-up readers, RSS, N readers of one kind, RSS, N of the other, RSS; then the fan-out passes. */
async function runRound(round: number, readers: number, generators: Loadgen[], options: SseOptions, summary: SseSummary): Promise<void> {
  const server = await startServer("agentwire");
  let publisher: WebSocket | undefined;
  try {
    // Alternate which kind opens first, so neither always lands on a heap the other already grew.
    const order = round % 2 === 0 ? READER_KINDS : [...READER_KINDS].reverse();
    for (const kind of READER_KINDS) await openReaders(generators, server, kind, `warmup-${kind}`, options.warmupReaders, options.connectBatch);
    let rss = await settledRss(server.rss, options.settleMs);
    for (const [index, kind] of order.entries()) {
      await openReaders(generators, server, kind, channelOf(kind), readers, options.connectBatch);
      const after = await settledRss(server.rss, options.settleMs);
      summary.memory.push({ kind, readers, first: index === 0, bytesPerReader: (after - rss) / readers });
      rss = after;
    }
    publisher = await connect(server.url);
    const messages = loadedMessages(readers, options.messages);
    const nextSeq: Record<ReaderKind, number> = { ws: 1, sse: 1 };
    const pass = async (kind: ReaderKind) => {
      const result = await runPass(kind, readers, generators, server, publisher!, nextSeq[kind], messages, options);
      nextSeq[kind] += messages;
      return result;
    };
    // An unrecorded pass each, so JIT warm-up lands in neither side's figures; then A B B A.
    for (const kind of order) await pass(kind);
    for (const kind of [...order, ...[...order].reverse()]) {
      const result = await pass(kind);
      summary.passes.push(result);
      console.log(`  sse N=${readers} round ${round + 1} ${kind.padEnd(3)} ${describeSseRound(result)}`);
    }
    const memory = summary.memory.slice(-2);
    console.log(`  sse N=${readers} round ${round + 1} RSS per reader: ${memory.map((entry) => `${entry.kind} ${Math.round(entry.bytesPerReader)} B`).join(", ")} (${order[0]} opened first)`);
  } finally {
    if (publisher) await closeAll([publisher]);
    await Promise.all(generators.map((generator) => generator.reset()));
    await server.stop();
  }
}

export async function runSse(options: SseOptions): Promise<SseSummary[]> {
  console.log(
    `sse: N SSE readers and N WebSocket subscribers on one agentwire server, held by ${options.loadgens} load-generator processes; ` +
      `${options.rounds} fresh servers per N, each: RSS per reader (${options.warmupReaders} warm-up readers of each kind, settle ${options.settleMs} ms), ` +
      `then passes of a ~${options.bodyBytes} B body, window ${options.window}, in the order A B B A; readers ${options.readers.join(", ")}`,
  );
  const largest = Math.max(...options.readers);
  // The server holds both kinds of readers and the warm-up ones at once.
  checkFileLimit(2 * (largest + options.warmupReaders) + 1);
  const generators = Array.from({ length: options.loadgens }, () => new Loadgen(Math.ceil((largest + options.warmupReaders) / options.loadgens)));
  const summaries: SseSummary[] = [];
  try {
    await Promise.all(generators.map((generator) => generator.ready));
    for (const readers of options.readers) {
      console.log(`sse N=${readers}: ${loadedMessages(readers, options.messages)} messages per pass`);
      const summary: SseSummary = { readers, passes: [], memory: [] };
      for (let round = 0; round < options.rounds; round++) await runRound(round, readers, generators, options, summary);
      summaries.push(summary);
    }
  } finally {
    for (const generator of generators) generator.stop();
  }
  return summaries;
}
