// examples/ai-sdk-react/ in a real Chromium (Debian's, driven by playwright-core): the AI SDK's own
// `useChat` on agentwire's transport. A reload mid-answer picks the run up (`resume: true`) and shows
// the whole answer once; Stop stops the run itself, not just the page's fetch.

import { afterAll, beforeAll, beforeEach, describe, expect, setDefaultTimeout, test } from "bun:test";
import { existsSync } from "node:fs";
import { chromium, type Browser, type Page } from "playwright-core";
import { textResponse } from "../helpers/fake-openai.ts";
import { startExample } from "../helpers/process.ts";
import { startAgentHarness, type AgentHarness } from "../helpers/runs.ts";
import { waitFor } from "../helpers/wait.ts";

const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const available = existsSync(CHROMIUM);
setDefaultTimeout(60_000);
if (!available) console.warn(`AI SDK React example browser test skipped: no Chromium at ${CHROMIUM} (apt-get install chromium, or set CHROMIUM_PATH)`);

/** A long answer the fake model streams slowly: "w0 w1 w2 …". */
const longAnswer = (words: number) => Array.from({ length: words }, (_, index) => `w${index}`).join(" ");

describe.skipIf(!available)("examples/ai-sdk-react in Chromium", () => {
  let harness: AgentHarness;
  let example: Awaited<ReturnType<typeof startExample>>;
  let browser: Browser;
  let token: string;
  let page: Page;
  let problems: string[];

  beforeAll(async () => {
    harness = await startAgentHarness();
    token = await harness.server.token({ sub: "alice" });
    example = await startExample("examples/ai-sdk-react/server.ts", harness.server.httpUrl);
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"],
    });
  });

  afterAll(async () => {
    await browser?.close();
    example?.child.kill();
    await harness?.stop();
  });

  beforeEach(async () => {
    await page?.context().close();
    page = await (await browser.newContext()).newPage();
    problems = [];
    page.on("pageerror", (error) => problems.push(error.message));
  });

  const assistantText = () => page.locator('#messages li[data-role="assistant"]');
  const status = (value: string) => page.locator("#status").filter({ hasText: new RegExp(`^${value}$`) }).waitFor();

  async function openAndSend(text: string): Promise<string> {
    await page.goto(`http://127.0.0.1:${example.port}/?token=${token}`);
    await status("ready");
    const chat = new URL(page.url()).searchParams.get("chat");
    expect(chat).toBeTruthy();
    await page.getByRole("textbox", { name: "Message" }).fill(text);
    await page.getByRole("button", { name: "Send" }).click();
    // Some of the answer is on the page: the run is going.
    await page.waitForFunction(() => (document.querySelector('#messages li[data-role="assistant"]')?.textContent ?? "").length > 20);
    return chat!;
  }

  test("a reload mid-answer resumes the run from the same thread and shows the whole answer once", async () => {
    const answer = longAnswer(300);
    harness.fake.enqueue(textResponse(answer, { chunkSize: 4, delayMs: 15 }));
    const chat = await openAndSend("Talk for a while");

    // The reload keeps ?chat= and picks the run up with GET /ai-sdk/chat/:id/stream while it still goes.
    const resumed = page.waitForResponse((response) => response.url().endsWith(`/ai-sdk/chat/${chat}/stream`));
    await page.reload();
    expect(new URL(page.url()).searchParams.get("chat")).toBe(chat);
    expect((await resumed).status()).toBe(200);

    await page.waitForFunction((full) => document.querySelector('#messages li[data-role="assistant"]')?.textContent === full, answer, { timeout: 30_000 });
    await status("ready");
    expect(await page.locator('#messages li[data-role="user"]').allTextContents()).toEqual(["Talk for a while"]);
    expect(await assistantText().allTextContents()).toEqual([answer]);
    expect(problems).toEqual([]);
  });

  test("Stop stops the run: the model request is aborted and the page shows the answer ended", async () => {
    const answer = longAnswer(400);
    harness.fake.enqueue(textResponse(answer, { chunkSize: 4, delayMs: 20 }));
    const requestsBefore = harness.fake.requests.length;
    const chat = await openAndSend("Talk for a long time");

    await page.getByRole("button", { name: "Stop" }).click();
    const request = harness.fake.requests[requestsBefore]!;
    await waitFor(() => request.aborted, "the model request to be aborted");
    // The stream ends with the run (its "abort" chunk): the hook is ready again, Stop is gone.
    await status("ready");
    await page.getByRole("button", { name: "Stop" }).waitFor({ state: "hidden" });
    const partial = (await assistantText().allTextContents()).join("");
    expect(partial.length).toBeGreaterThan(0);
    expect(partial.length).toBeLessThan(answer.length);
    expect(answer.startsWith(partial)).toBe(true);

    const stored = await fetch(`${harness.server.httpUrl}/threads/${chat}/messages`, { headers: { authorization: `Bearer ${token}` } });
    const { messages } = (await stored.json()) as { messages: Array<{ role: string; status: string; content: string }> };
    expect(messages.at(-1)).toMatchObject({ role: "assistant", status: "cancelled", content: partial });
    expect(problems).toEqual([]);
  });
});
