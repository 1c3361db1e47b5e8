// How busy a long streamed Markdown answer keeps the chat page's main thread, in a real Chromium:
// `bun run bench/chat-page.ts [--tokens 20000] [--rate 200]`. A fixed-rate fake model streams a
// Markdown answer (headings, lists, tables, code blocks, links) of that many tokens through an
// agentwire server; Chrome's own counters (CDP Performance.getMetrics) give the renderer main thread's
// task time over the stream, printed as a share of the wall time, with the long tasks (over 50 ms).
// `--root <checkout>` serves another checkout's page, e.g. an earlier version, to compare.

import { parseArgs } from "node:util";
import { chromium } from "playwright-core";
import { signToken } from "./clients.ts";
import { startFakeModel } from "./fake-model.ts";
import { killAllServers, setAgentwireRoot, startServer } from "./servers.ts";

const { values } = parseArgs({
  options: { tokens: { type: "string", default: "20000" }, rate: { type: "string", default: "200" }, root: { type: "string" }, chromium: { type: "string", default: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium" } },
});
const tokenCount = Number(values.tokens);
const rate = Number(values.rate);
if (!(tokenCount > 0 && rate > 0)) throw new Error("--tokens and --rate must be positive numbers");

/** A Markdown answer of `count` tokens of about four characters, as a model would write it. */
function markdownTokens(count: number): string[] {
  const sections: string[] = [];
  for (let index = 0; sections.join("").length < count * 4; index++) {
    sections.push(
      `## Part ${index}\n\nThis part explains **step ${index}** with a [reference](https://example.com/${index}) and \`inline code\`.\n\n` +
        `- first point of part ${index}\n- second point, with *emphasis*\n- third point\n\n` +
        `| key | value |\n| --- | --- |\n| a${index} | ${index * 2} |\n| b${index} | ${index * 3} |\n\n` +
        "```ts\n" +
        `function part${index}(input: number): number {\n  return input * ${index} + 1;\n}\n` +
        "```\n\n",
    );
  }
  const text = sections.join("");
  const tokens: string[] = [];
  for (let offset = 0; tokens.length < count; offset += 4) tokens.push(text.slice(offset, offset + 4));
  return tokens;
}

type Metrics = Record<string, number>;

if (values.root) setAgentwireRoot(values.root);
const fake = startFakeModel(rate);
const server = await startServer("agentwire", { OPENAI_BASE_URL: fake.url, OPENAI_API_KEY: "bench-key", AGENT_MODEL: "bench", RUN_TIMEOUT_S: "3600" });
const browser = await chromium.launch({ executablePath: values.chromium, args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"] });
try {
  const prompt = "Write the long answer";
  const answer = fake.register(prompt, markdownTokens(tokenCount));
  const page = await browser.newPage({ viewport: { width: 1100, height: 800 } });
  // Long tasks as the page itself sees them; added through DevTools, so the page's CSP does not apply.
  await page.addInitScript(() => {
    const seen: number[] = [];
    (window as unknown as { __longTasks: number[] }).__longTasks = seen;
    new PerformanceObserver((list) => list.getEntries().forEach((entry) => seen.push(entry.duration))).observe({ type: "longtask", buffered: true });
  });
  const cdp = await page.context().newCDPSession(page);
  await cdp.send("Performance.enable", { timeDomain: "timeTicks" });
  const metrics = async (): Promise<Metrics> => Object.fromEntries((await cdp.send("Performance.getMetrics")).metrics.map((metric) => [metric.name, metric.value]));

  await page.goto(`http://127.0.0.1:${server.port}/#token=${await signToken({ sub: "reader" })}`);
  await page.getByRole("status").filter({ hasText: /^connected$/ }).waitFor();
  await page.getByRole("textbox", { name: "Message" }).fill(prompt);
  await page.getByRole("button", { name: "Send" }).click();
  await page.waitForFunction(() => (document.querySelector("li.message.assistant > .text")?.textContent ?? "").length > 0);
  await page.evaluate(() => ((window as unknown as { __longTasks: number[] }).__longTasks.length = 0));
  const before = await metrics();
  await page.locator('li.message.assistant[data-status="completed"]').waitFor({ timeout: (tokenCount / rate) * 3000 + 60_000 });
  const after = await metrics();
  const longTasks = await page.evaluate(() => (window as unknown as { __longTasks: number[] }).__longTasks);
  const shown = await page.evaluate(() => document.querySelector("li.message.assistant > .text")!.textContent!.length);

  const wall = after.Timestamp! - before.Timestamp!;
  const share = (name: string) => `${(((after[name]! - before[name]!) / wall) * 100).toFixed(1)}%`;
  const emitted = [...answer.emittedAt].filter(Number.isFinite);
  const streamedRate = (emitted.length - 1) / ((emitted.at(-1)! - emitted[0]!) / 1000);
  console.log(`chat page, a Markdown answer of ${tokenCount} tokens (${answer.tokens.join("").length} characters) at ${rate} tokens/s`);
  console.log(`  model streamed at ${streamedRate.toFixed(1)} tokens/s; the page showed ${shown} characters of text; measured over ${wall.toFixed(1)} s`);
  console.log(`  main thread busy: ${share("TaskDuration")} of the wall time (script ${share("ScriptDuration")}, layout ${share("LayoutDuration")}, style ${share("RecalcStyleDuration")})`);
  const longest = longTasks.length === 0 ? 0 : Math.max(...longTasks);
  console.log(`  long tasks (over 50 ms): ${longTasks.length}, the longest ${longest.toFixed(0)} ms`);
} finally {
  await browser.close();
  await server.stop();
  await fake.close();
  killAllServers();
}
