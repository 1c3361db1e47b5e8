#!/usr/bin/env bun
// Chat with agentwire's built-in agent from a terminal through the SDK: the answer streams as it
// comes, tool calls are shown (and approved or rejected when the server asks), sources listed.
//
//   TOKEN=$(bun run src/index.ts token --sub alice)
//   AGENTWIRE_TOKEN=$TOKEN bun run examples/bun-chat.ts "What is 2^10 - 24?"
//
// Options: --thread <id> continues a thread, --reject rejects tools that need approval (default
// approves), --watch <thread id> follows the thread's latest run instead of sending (after a crash
// of this script, say). AGENTWIRE_URL defaults to ws://localhost:8080/ws.

import { AgentwireClient, type RunHandle } from "agentwire/client";

const args = process.argv.slice(2);
const option = (name: string) => {
  const index = args.indexOf(name);
  return index === -1 ? undefined : args.splice(index, 2)[1];
};
const threadId = option("--thread");
const watchThread = option("--watch");
const rejectTools = args.includes("--reject") ? (args.splice(args.indexOf("--reject"), 1), true) : false;
const content = args.join(" ");
const token = process.env.AGENTWIRE_TOKEN;
if (!token || (!content && !watchThread)) {
  console.error('usage: AGENTWIRE_TOKEN=<jwt> bun run examples/bun-chat.ts [--thread ID] [--reject] "message"\n       AGENTWIRE_TOKEN=<jwt> bun run examples/bun-chat.ts --watch THREAD_ID');
  process.exit(2);
}

const client = new AgentwireClient({ url: process.env.AGENTWIRE_URL ?? "ws://localhost:8080/ws", token });
// Say so when the link drops; the SDK reconnects and the run handle resumes where it was.
let connectedOnce = false;
let finished = false;
client.on("state", ({ state }) => {
  if (state === "connected") connectedOnce = true;
  else if (connectedOnce && !finished) console.error(`[${state}]`);
});
client.on("error", (error) => console.error(`[${error.code}] ${error.message}`));
client.connect();

async function print(run: RunHandle): Promise<number> {
  console.error(`[thread ${run.threadId}, message ${run.messageId}]`);
  if (run.snapshot?.content) process.stdout.write(run.snapshot.content);
  run.on("reset", ({ message }) => process.stdout.write(`\n[history lost; the stored text so far]\n${message?.content ?? ""}`));
  for await (const event of run) {
    if (event.type === "response" && event.status === "in_progress") process.stdout.write(event.message);
    else if (event.type === "tool" && event.tool) {
      const { name, call_id, arguments: input, result, error } = event.tool;
      console.error(`\n[tool ${name} ${event.status}] ${JSON.stringify(input)}${result ? ` → ${result}` : ""}${error ? ` ✗ ${error}` : ""}`);
      if (event.status === "awaiting_approval") await (rejectTools ? run.reject(call_id, "rejected from the terminal") : run.approve(call_id));
    } else if (event.type === "sources") {
      for (const source of event.sources ?? []) console.error(`[source] ${source.title}${source.url ? ` <${source.url}>` : ""}`);
    } else if (event.final_message) {
      process.stdout.write("\n");
      if (event.type === "error") {
        console.error(`[run failed] ${event.message}`);
        return 1;
      }
      console.error(`[${event.status}${event.usage ? `, ${event.usage.prompt_tokens}+${event.usage.completion_tokens} tokens` : ""}]`);
    }
  }
  return 0;
}

// Ctrl-C stops the run on the server rather than leaving it to finish unseen.
let current: RunHandle | undefined;
process.once("SIGINT", () => {
  if (!current) process.exit(130);
  void current.stop().catch(() => process.exit(130));
});

try {
  current = watchThread ? await client.chat.watch(watchThread) : await client.chat.send(content, threadId ? { threadId } : {});
  process.exitCode = await print(current);
} catch (error) {
  console.error(`[failed] ${(error as Error).message}`);
  process.exitCode = 1;
} finally {
  finished = true;
  client.close();
}
