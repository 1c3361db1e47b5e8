// Diagnostic, not a scenario: the server's CPU for N runs started at once, then per token of the steady
// stream that follows, thread by thread. One sender per run and no watchers, so the figures are the
// agent's own; `model-stream-floor.ts` measures reading the same streams without agentwire.
//   bun bench/run-probe.ts [runs=400] [rounds=3] [tokens=400]

import { connect, openMany, signToken } from "./clients.ts";
import { startFakeModel } from "./fake-model.ts";
import { Peer } from "./peer.ts";
import { agentSettings } from "./runs.ts";
import { startServer } from "./servers.ts";
import { cpuSecondsBetween, describeThreads, threadTimes } from "./thread-cpu.ts";

const RUNS = Number(process.argv[2] ?? 400);
const ROUNDS = Number(process.argv[3] ?? 3);
const TOKENS = Number(process.argv[4] ?? 400);
const TOKENS_PER_SECOND = 50;
const STEADY_MS = 3000;
const main = (thread: { name: string }) => thread.name === "main";

const fake = startFakeModel(TOKENS_PER_SECOND);
const server = await startServer("agentwire", agentSettings(fake, RUNS));
const tokens = await Promise.all(Array.from({ length: RUNS }, (_, index) => signToken({ sub: `probe-${index}` })));
const peers = (await openMany(RUNS, 100, (index) => connect(server.url, tokens[index]))).map((socket) => new Peer(socket));
let keys = 0;

async function round(count: number, tokenCount: number): Promise<string> {
  const plans = await Promise.all(
    Array.from({ length: count }, async (_, index) => {
      const response = await fetch(`http://127.0.0.1:${server.port}/threads`, {
        method: "POST",
        headers: { authorization: `Bearer ${tokens[index]}`, "content-type": "application/json" },
        body: JSON.stringify({ title: "probe" }),
      });
      if (response.status !== 201) throw new Error(`POST /threads answered ${response.status}`);
      const threadId = ((await response.json()) as { id: string }).id;
      const prompt = `run-probe ${++keys}`;
      return { threadId, prompt, answer: fake.register(prompt, Array.from({ length: tokenCount }, () => "tok ")) };
    }),
  );
  const finals = plans.map((plan, index) => {
    const final = Promise.withResolvers<void>();
    peers[index]!.onFrame = (frame) => {
      if (frame.channel === `thread:${plan.threadId}` && frame.payload.final_message === true) final.resolve();
    };
    return final.promise;
  });
  const beforeStarts = threadTimes(server.pid);
  await Promise.all(
    plans.map(async (plan, index) => {
      const ack = await peers[index]!.request("chat", { action: "send", thread_id: plan.threadId, content: plan.prompt, use_reasoning: false });
      if (ack.status !== "accepted") throw new Error(`send answered ${JSON.stringify(ack)}`);
    }),
  );
  while (plans.some((plan) => Number.isNaN(plan.answer.emittedAt[0]))) await Bun.sleep(5);
  const started = threadTimes(server.pid);
  const perRun = (counted?: typeof main) => ((cpuSecondsBetween(beforeStarts, started, counted) * 1e6) / count).toFixed(0);
  let line = `${count} runs: until every first token, ${perRun(main)} µs main thread / ${perRun()} µs all threads per run`;
  if (tokenCount / TOKENS_PER_SECOND > (STEADY_MS + 1500) / 1000) {
    await Bun.sleep(500);
    const from = threadTimes(server.pid);
    const at = performance.now();
    await Bun.sleep(STEADY_MS);
    const to = threadTimes(server.pid);
    const seconds = (performance.now() - at) / 1000;
    const streamed = count * TOKENS_PER_SECOND * seconds;
    const perToken = (counted?: typeof main) => ((cpuSecondsBetween(from, to, counted) * 1e6) / streamed).toFixed(1);
    line += `; steady stream ${perToken(main)} µs main thread / ${perToken()} µs all threads per token (${describeThreads(from, to, seconds)})`;
  }
  await Promise.all(finals);
  for (const [index, plan] of plans.entries()) {
    fake.forget(plan.prompt);
    await peers[index]!.request("subscription", { action: "unsubscribe", channel: `thread:${plan.threadId}` });
  }
  return line;
}

try {
  // Unreported: the first runs of a fresh process.
  await round(Math.min(RUNS, 50), 25);
  for (let index = 0; index < ROUNDS; index++) console.log(await round(RUNS, TOKENS));
} finally {
  for (const peer of peers) peer.socket.close();
  await server.stop();
  await fake.close();
}
