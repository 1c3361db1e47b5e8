// Diagnostic, not a scenario: what receiving model streams costs a Bun process before any gateway work.
// A fake model in a child process streams N answers at 50 tokens/s, each token its own SSE event and
// write, as providers send them. A fresh consumer process per way of reading measures its own CPU,
// thread by thread, over a few seconds of the steady stream:
//   tcp     Bun.connect on the JavaScript thread, the request written by hand, each read counted: the socket floor
//   fetch   Bun's fetch and a body reader, the bytes thrown away: what the runtime's HTTP client adds
//   openai  the official package's chat.completions.create({ stream: true }), every chunk parsed
//   model   agentwire's model client (src/agent/model/openai-model.ts) over the same package
//   bun bench/model-stream-floor.ts [streams=1000] [seconds=3]        (WAYS=fetch,openai to choose)
// The runs scenario measures the `openai` way beside its passes (measureFloor).

import OpenAI from "openai";
import { createOpenAIModel } from "../src/agent/model/openai-model.ts";
import { startFakeModel } from "./fake-model.ts";
import { cpuSecondsBetween, describeThreads, threadTimes } from "./thread-cpu.ts";

const TOKENS_PER_SECOND = 50;
const WAYS = ["tcp", "fetch", "openai", "model"];
const API_KEY = "sk-bench-not-a-key";

// One client of each kind per process, as agentwire keeps one model client.
let packageClient: OpenAI | undefined;
let modelClient: ReturnType<typeof createOpenAIModel> | undefined;

/** Reads the answer to `prompt` the given way, calling `onChunk` for each socket read (tcp) or chunk. */
async function readAnswer(way: string, baseURL: string, prompt: string, onChunk: () => void): Promise<void> {
  const messages = [{ role: "user" as const, content: prompt }];
  const body = JSON.stringify({ model: "bench-fixed-rate", messages, stream: true });
  if (way === "tcp") {
    const url = new URL(`${baseURL}/chat/completions`);
    const ended = Promise.withResolvers<void>();
    await Bun.connect({
      hostname: url.hostname,
      port: Number(url.port),
      socket: {
        open: (socket) =>
          void socket.write(
            `POST ${url.pathname} HTTP/1.1\r\nhost: ${url.host}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n\r\n${body}`,
          ),
        data: onChunk,
        close: () => ended.resolve(),
        error: (_, error) => ended.reject(error),
      },
    });
    return ended.promise;
  }
  if (way === "fetch") {
    const response = await fetch(`${baseURL}/chat/completions`, { method: "POST", headers: { "content-type": "application/json" }, body });
    const reader = response.body!.getReader();
    for (let read = await reader.read(); !read.done; read = await reader.read()) onChunk();
    return;
  }
  if (way === "openai") {
    packageClient ??= new OpenAI({ baseURL, apiKey: API_KEY, maxRetries: 0, logLevel: "off" });
    for await (const chunk of await packageClient.chat.completions.create({ model: "bench-fixed-rate", messages, stream: true })) {
      if (chunk.choices[0]?.delta.content) onChunk();
    }
    return;
  }
  modelClient ??= createOpenAIModel({ baseURL, apiKey: API_KEY, model: "bench-fixed-rate", maxRetries: 0, retryBaseMs: 100, requestTimeoutMs: 600_000 });
  for await (const event of modelClient.stream({ messages, tools: [] }, new AbortController().signal)) if (event.type === "text") onChunk();
}

export interface Floor {
  way: string;
  streams: number;
  /** CPU of the reading process, all threads, as a share of one core. */
  coreShare: number;
  microsecondsPerChunk: number;
  chunksPerSecond: number;
  /** "main 61%, HTTP Client 42%, ...". */
  threads: string;
}

export function describeFloor(floor: Floor): string {
  return (
    `${floor.way.padEnd(6)} ${floor.streams} streams: ${(floor.coreShare * 100).toFixed(0)}% of a core, ${floor.microsecondsPerChunk.toFixed(1)} µs per chunk ` +
    `(${Math.round(floor.chunksPerSecond)} chunks/s; ${floor.threads})`
  );
}

/** What any prompt of `floorPrompt` should be answered with; for the fake model's `answerAny`. */
export function floorAnswer(prompt: string): string[] {
  return Array.from({ length: Number(prompt.split(" ")[2]) || 1 }, () => "tok ");
}

const floorPrompt = (index: number, tokens: number) => `floor ${index} ${tokens}`;

async function consume(way: string, baseURL: string, streams: number, seconds: number, tokensPerSecond: number): Promise<Floor> {
  // Long enough to outlast the starts and the measured stretch.
  const tokens = Math.ceil((seconds + 3) * tokensPerSecond);
  let chunks = 0;
  const count = () => void chunks++;
  const done = Promise.all(Array.from({ length: streams }, (_, index) => readAnswer(way, baseURL, floorPrompt(index, tokens), count)));
  await Bun.sleep(1500);
  const before = threadTimes(process.pid);
  const chunksBefore = chunks;
  const at = performance.now();
  await Bun.sleep(seconds * 1000);
  const after = threadTimes(process.pid);
  const elapsed = (performance.now() - at) / 1000;
  const cpu = cpuSecondsBetween(before, after);
  const read = chunks - chunksBefore;
  await done;
  return { way, streams, coreShare: cpu / elapsed, microsecondsPerChunk: (cpu * 1e6) / read, chunksPerSecond: read / elapsed, threads: describeThreads(before, after, elapsed) };
}

/**
 * Reads `streams` answers of the fake model at `baseURL` (which must answer `floorAnswer`, at
 * `tokensPerSecond`) the given way in a fresh process, and says what that process spent.
 */
export async function measureFloor(way: string, baseURL: string, streams: number, seconds: number, tokensPerSecond = TOKENS_PER_SECOND): Promise<Floor> {
  if (!WAYS.includes(way)) throw new Error(`unknown way ${way}; the ways are ${WAYS.join(", ")}`);
  const consumer = Bun.spawn([process.execPath, import.meta.path, "--consume", way, baseURL, String(streams), String(seconds), String(tokensPerSecond)], {
    stdout: "pipe",
    stderr: "inherit",
    // Bun's fetch holds 256 requests at once unless told at start.
    env: { ...process.env, BUN_CONFIG_MAX_HTTP_REQUESTS: String(streams + 256) },
  });
  const output = await new Response(consumer.stdout).text();
  if ((await consumer.exited) !== 0) throw new Error(`the ${way} consumer failed`);
  return JSON.parse(output) as Floor;
}

if (import.meta.main) {
  const [role, ...rest] = process.argv.slice(2);
  if (role === "--fake") {
    console.log(startFakeModel(TOKENS_PER_SECOND, floorAnswer).url);
  } else if (role === "--consume") {
    const [way, baseURL, streams, seconds, tokensPerSecond] = rest;
    console.log(JSON.stringify(await consume(way!, baseURL!, Number(streams), Number(seconds), Number(tokensPerSecond))));
  } else {
    const streams = Number(role ?? 1000);
    const seconds = Number(rest[0] ?? 3);
    const ways = (process.env.WAYS ?? WAYS.join(",")).split(",");
    const fake = Bun.spawn([process.execPath, import.meta.path, "--fake"], { stdout: "pipe", stderr: "inherit" });
    try {
      const url = new TextDecoder().decode((await fake.stdout.getReader().read()).value).trim();
      console.log(`${streams} answers at ${TOKENS_PER_SECOND} tokens/s, ${seconds} s of the steady stream per way, each way in a fresh process`);
      for (const way of ways) console.log(describeFloor(await measureFloor(way, url, streams, seconds)));
    } finally {
      fake.kill();
    }
  }
}
