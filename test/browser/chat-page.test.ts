// The chat page at `/` in a real Chromium (Debian's, driven by playwright-core): streamed answers,
// stop, approvals, a reload mid-stream, Markdown that must stay inert, thread management, runs started
// elsewhere shown live, a phone-sized dark page, a link that would switch accounts, and all of it under
// the page's Content-Security-Policy.

import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, setDefaultTimeout, test } from "bun:test";
import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { chromium, type Browser, type BrowserContext, type Page } from "playwright-core";
import { ROOT } from "../helpers/process.ts";
import { startAgentHarness, type AgentHarness } from "../helpers/runs.ts";
import { textResponse, toolCallResponse } from "../helpers/fake-openai.ts";
import { startTcpProxy } from "../helpers/tcp-proxy.ts";
import { waitFor } from "../helpers/wait.ts";

const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const OUTPUT = join(ROOT, "test-output");
const available = existsSync(CHROMIUM);
// A browser step waits up to 30 s (playwright's default); a test may take a few of them.
setDefaultTimeout(30_000);
if (!available) console.warn(`chat page browser tests skipped: no Chromium at ${CHROMIUM} (apt-get install chromium, or set CHROMIUM_PATH)`);

describe.skipIf(!available)("chat page in Chromium", () => {
  let harness: AgentHarness;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  let token: string;
  // What the browser reported against the page: CSP violations and uncaught errors.
  let problems: string[];

  beforeAll(async () => {
    harness = await startAgentHarness({ TOOLS_REQUIRE_APPROVAL: "calculator", COALESCE_MS: "10" });
    token = await harness.server.token({ sub: "alice" });
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"],
    });
  });

  afterAll(async () => {
    await browser?.close();
    await harness?.stop();
  });

  beforeEach(async () => {
    await context?.close();
    context = await browser.newContext({ viewport: { width: 1100, height: 700 } });
    page = await context.newPage();
    problems = [];
    page.on("console", (message) => {
      if (message.type() === "error" && message.text().includes("Content Security Policy")) problems.push(message.text());
    });
    page.on("pageerror", (error) => problems.push(`page error: ${error.message}`));
  });

  afterEach(() => {
    expect(problems).toEqual([]);
  });

  /** Waits for the socket to be open; "disconnected" must not count. */
  const connected = () => page.getByRole("status").filter({ hasText: /^connected$/ }).waitFor();

  /** Opens the page with the token in the link, as the start-up log prints it, and waits for the socket. */
  async function openPage(base = harness.server.httpUrl): Promise<void> {
    await page.goto(`${base}/#token=${token}`);
    await connected();
  }

  async function sendMessage(text: string): Promise<void> {
    await page.getByRole("textbox", { name: "Message" }).fill(text);
    await page.getByRole("button", { name: "Send" }).click();
  }

  const assistant = () => page.locator("li.message.assistant").last();

  async function waitForStatus(status: string, timeoutMs = 10_000): Promise<void> {
    await page.locator(`li.message.assistant[data-status="${status}"]`).last().waitFor({ timeout: timeoutMs });
  }

  /** The visible controls a screen reader (and a role-based lookup) could not name. */
  const unnamedControls = (target: Page) =>
    target.locator("button, input, textarea, select, summary").evaluateAll((controls) =>
      controls
        .filter((control) => !(control as HTMLElement).hidden)
        .filter((control) => {
          const labels = (control as HTMLInputElement).labels;
          return !(control.getAttribute("aria-label") || control.textContent?.trim() || (labels && labels.length > 0));
        })
        .map((control) => control.outerHTML),
    );

  test("a message gets a streamed answer; the token leaves the address bar; a screenshot is saved", async () => {
    const answer = "Streaming works: one, two, three, four, five, six, seven, eight.";
    harness.fake.enqueue(textResponse(answer, { chunkSize: 3, delayMs: 15, reasoning: "Thinking it over." }));
    await openPage();
    expect(page.url()).not.toContain("token=");
    await sendMessage("Say something long");
    // Part of the answer shows before the run completes.
    await page.waitForFunction(() => {
      const text = document.querySelector("li.message.assistant > .text")?.textContent ?? "";
      return text.length > 0 && document.querySelector("li.message.assistant")?.getAttribute("data-status") !== "completed";
    });
    await waitForStatus("completed");
    expect(await assistant().locator(":scope > .text").textContent()).toBe(answer);
    expect(await page.locator("li.message.user .text").last().textContent()).toBe("Say something long");
    // Reasoning is there, collapsed.
    const reasoning = assistant().locator("details.reasoning");
    expect(await reasoning.getAttribute("open")).toBeNull();
    expect(await reasoning.locator(".text").textContent()).toBe("Thinking it over.");
    // The new thread is listed and current.
    await page.locator('nav button.open[aria-current="true"]').filter({ hasText: "Say something long" }).waitFor();
    mkdirSync(OUTPUT, { recursive: true });
    await page.screenshot({ path: join(OUTPUT, "chat-page.png"), fullPage: true });
    expect(existsSync(join(OUTPUT, "chat-page.png"))).toBe(true);
    console.log(`screenshot: ${join(OUTPUT, "chat-page.png")}`);
  });

  test("model output with <script> and HTML is shown as text and never runs", async () => {
    const hostile = `<script>window.__pwned = 1</script><img src=x onerror="window.__pwned = 2"><b>bold?</b>`;
    harness.fake.enqueue(textResponse(hostile, { chunkSize: 7 }));
    await openPage();
    await sendMessage("Answer with markup");
    await waitForStatus("completed");
    expect(await assistant().locator(":scope > .text").textContent()).toBe(hostile);
    expect(await page.evaluate(() => (window as unknown as { __pwned?: number }).__pwned)).toBeUndefined();
    expect(await page.locator("#messages script, #messages img, #messages b").count()).toBe(0);
  });

  test("Markdown answers and reasoning are rendered, inert and labelled; usage shows; the page fits a dark phone screen", async () => {
    const answer = [
      "# Packing list",
      "",
      "Take **sunscreen** and read [the guide](https://example.com/guide).",
      "Never [click me](javascript:window.__pwned=3) or [this](data:text/html,hi) or ![pixel](https://example.com/p.png).",
      "",
      '<img src=x onerror="window.__pwned=4"> and <svg onload="window.__pwned=5"></svg> and <a href="javascript:window.__pwned=6">raw link</a>',
      "",
      "| item | count |",
      "| --- | --- |",
      "| socks | 3 |",
      "",
      "- first",
      "- second",
      "",
      "```ts",
      'const tag = "<script>window.__pwned = 7</script>";',
      "```",
    ].join("\n");
    harness.fake.enqueue(textResponse(answer, { chunkSize: 9, delayMs: 5, reasoning: "Think about **weather** first." }));
    await context.grantPermissions(["clipboard-read", "clipboard-write"]);
    await openPage();
    await sendMessage("What should I pack?");
    await waitForStatus("completed");
    const text = assistant().locator(":scope > .text");
    expect(await text.getAttribute("aria-live")).toBe("polite");
    expect(await text.getAttribute("aria-busy")).toBe("false");
    expect(await text.getByRole("heading", { name: "Packing list" }).count()).toBe(1);
    expect(await text.locator("strong").textContent()).toBe("sunscreen");
    expect(await text.getByRole("cell", { name: "socks" }).count()).toBe(1);
    expect(await text.getByRole("listitem").allTextContents()).toEqual(["first", "second"]);
    // Links: only http(s) ones stay links, opening a new tab without an opener or referrer.
    const links = text.getByRole("link");
    expect(await links.evaluateAll((anchors) => anchors.map((a) => [a.textContent, a.getAttribute("href"), a.getAttribute("target"), a.getAttribute("rel")]))).toEqual([
      ["the guide", "https://example.com/guide", "_blank", "noopener noreferrer"],
      ["pixel", "https://example.com/p.png", "_blank", "noopener noreferrer"],
    ]);
    expect(await text.textContent()).toContain("Never click me or this or pixel.");
    expect(await text.textContent()).toContain(`<img src=x onerror="window.__pwned=4"> and <svg onload="window.__pwned=5"></svg>`);
    expect(await page.locator("#messages script, #messages img, #messages svg, #messages iframe, #messages [onerror], #messages [onload]").count()).toBe(0);
    expect(await page.locator('#messages a[href^="javascript"], #messages a[href^="data"]').count()).toBe(0);
    // The code block: its language, a copy button that copies the code as text.
    const code = text.locator("figure.code");
    expect(await code.locator("figcaption .language").textContent()).toBe("ts");
    expect(await code.locator("pre").textContent()).toBe('const tag = "<script>window.__pwned = 7</script>";');
    await code.getByRole("button", { name: "Copy ts code" }).click();
    await code.getByRole("button", { name: "Copy ts code" }).filter({ hasText: "Copied" }).waitFor();
    expect(await page.evaluate(() => navigator.clipboard.readText())).toBe('const tag = "<script>window.__pwned = 7</script>";');
    expect(await assistant().locator("details.reasoning strong").textContent()).toBe("weather");
    expect(await assistant().locator(".usage").textContent()).toBe("10 prompt · 5 completion tokens");
    expect(await page.evaluate(() => (window as unknown as { __pwned?: number }).__pwned)).toBeUndefined();
    mkdirSync(OUTPUT, { recursive: true });
    await page.screenshot({ path: join(OUTPUT, "chat-page-markdown.png"), fullPage: true });
    const darkness = async (target: Page) => {
      const [red, green, blue] = (await target.evaluate(() => getComputedStyle(document.body).backgroundColor)).match(/\d+/g)!.map(Number);
      return red! + green! + blue!;
    };
    expect(await darkness(page)).toBeGreaterThan(600);
    await page.emulateMedia({ colorScheme: "dark" });
    expect(await darkness(page)).toBeLessThan(150);
    await page.screenshot({ path: join(OUTPUT, "chat-page-markdown-dark.png"), fullPage: true });

    // The same thread on a 390-pixel phone in the dark scheme: nothing wider than the screen.
    const threadId = new URLSearchParams(new URL(page.url()).hash.slice(1)).get("thread");
    const phone = await browser.newContext({ viewport: { width: 390, height: 844 }, colorScheme: "dark", isMobile: true, hasTouch: true });
    try {
      const small = await phone.newPage();
      small.on("pageerror", (error) => problems.push(`phone page error: ${error.message}`));
      await small.goto(`${harness.server.httpUrl}/#token=${token}&thread=${threadId}`);
      await small.locator('li.message.assistant[data-status="completed"] figure.code').waitFor();
      expect(await small.evaluate(() => document.documentElement.scrollWidth)).toBeLessThanOrEqual(390);
      expect(await darkness(small)).toBeLessThan(150);
      await small.screenshot({ path: join(OUTPUT, "chat-page-phone-dark.png"), fullPage: true });
      console.log(`screenshots: chat-page-markdown.png, chat-page-markdown-dark.png, chat-page-phone-dark.png in ${OUTPUT}`);
    } finally {
      await phone.close();
    }
  });

  test("threads: runs started elsewhere appear live; rename, regenerate, Escape stops and Retry answers again, delete asks first", async () => {
    const rest = (method: string, path: string, body?: unknown) =>
      fetch(`${harness.server.httpUrl}${path}`, {
        method,
        headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
    const threadsNav = page.getByRole("navigation", { name: "Threads" });
    await openPage();
    // A thread created over REST shows up in the list by itself.
    const created = (await (await rest("POST", "/threads", { title: "Planned over REST" })).json()) as { id: string };
    await threadsNav.getByRole("button", { name: "Planned over REST", exact: true }).click();
    // A run started over REST on the open thread streams into the page.
    harness.fake.enqueue(textResponse(Array.from({ length: 60 }, (_, index) => `r${index}`).join(" "), { chunkSize: 4, delayMs: 15 }));
    expect((await rest("POST", `/threads/${created.id}/messages`, { content: "Asked from another device" })).status).toBe(202);
    await page.locator("li.message.user").filter({ hasText: "Asked from another device" }).waitFor();
    await waitForStatus("streaming");
    await waitForStatus("completed");
    expect(await page.locator("li.message.assistant").count()).toBe(1);
    // A thread started through the AI SDK transport appears in the list.
    harness.fake.enqueue(textResponse("Hello from the SDK."));
    const sdk = await fetch(`${harness.server.httpUrl}/ai-sdk/chat`, {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: JSON.stringify({ id: crypto.randomUUID(), trigger: "submit-message", messages: [{ id: "m1", role: "user", parts: [{ type: "text", text: "Started in an AI SDK app" }] }] }),
    });
    await sdk.text();
    await threadsNav.getByRole("button", { name: "Started in an AI SDK app", exact: true }).waitFor();

    // Rename in place: Enter saves.
    await threadsNav.getByRole("button", { name: "Rename Planned over REST" }).click();
    const titleBox = threadsNav.getByRole("textbox", { name: "Thread title" });
    await titleBox.fill("Renamed plans");
    // A thread arriving meanwhile redraws the list; what is typed, and the focus, stay.
    await rest("POST", "/threads", { title: "Arrives while typing" });
    await threadsNav.getByRole("button", { name: "Arrives while typing", exact: true }).waitFor();
    expect(await titleBox.inputValue()).toBe("Renamed plans");
    expect(await titleBox.evaluate((input) => input === document.activeElement)).toBe(true);
    await page.keyboard.press("Enter");
    await threadsNav.getByRole("button", { name: "Renamed plans", exact: true }).waitFor();

    // Regenerate replaces the last answer.
    harness.fake.enqueue(textResponse("A fresh answer."));
    await page.getByRole("button", { name: "Regenerate" }).click();
    await page.locator("li.message.assistant").filter({ hasText: "A fresh answer." }).waitFor();
    await waitForStatus("completed");
    expect(await page.locator("li.message.assistant").count()).toBe(1);

    // Keyboard: Shift+Enter is a new line, Enter sends, Escape stops; then Retry answers again.
    harness.fake.enqueue(textResponse("slow ".repeat(400), { chunkSize: 5, delayMs: 20 }));
    const box = page.getByRole("textbox", { name: "Message" });
    await box.fill("line one");
    await box.press("Shift+Enter");
    await box.pressSequentially("line two");
    await box.press("Enter");
    expect(await page.locator("li.message.user .text").last().textContent()).toBe("line one\nline two");
    await page.waitForFunction(() => (document.querySelector("li.message.assistant:last-child > .text")?.textContent ?? "").length > 10);
    await page.keyboard.press("Escape");
    await waitForStatus("cancelled");
    harness.fake.enqueue(textResponse("Answered on retry."));
    await page.getByRole("button", { name: "Retry" }).click();
    await page.locator("li.message.assistant").filter({ hasText: "Answered on retry." }).waitFor();
    expect(await page.locator("li.message.assistant").count()).toBe(2);
    // Focus is visible on a control reached by keyboard.
    await page.getByRole("button", { name: "Regenerate" }).focus();
    await page.keyboard.press("Shift+Tab");
    await page.keyboard.press("Tab");
    expect(await page.evaluate(() => getComputedStyle(document.activeElement!).outlineStyle)).not.toBe("none");
    expect(await unnamedControls(page)).toEqual([]);
    mkdirSync(OUTPUT, { recursive: true });
    await page.screenshot({ path: join(OUTPUT, "chat-page-threads.png"), fullPage: true });

    // Delete asks first; Cancel keeps the thread, Delete removes it and clears the conversation.
    const dialog = page.getByRole("dialog", { name: "Delete thread?" });
    await threadsNav.getByRole("button", { name: "Delete Renamed plans" }).click();
    await dialog.getByRole("button", { name: "Cancel" }).click();
    expect(await threadsNav.getByRole("button", { name: "Renamed plans", exact: true }).count()).toBe(1);
    await threadsNav.getByRole("button", { name: "Delete Renamed plans" }).click();
    expect(await dialog.textContent()).toContain("“Renamed plans” and all its messages will be deleted.");
    await dialog.getByRole("button", { name: "Delete" }).click();
    await threadsNav.getByRole("button", { name: "Renamed plans", exact: true }).waitFor({ state: "detached" });
    expect(await page.locator("li.message").count()).toBe(0);
    expect((await rest("GET", `/threads/${created.id}/messages`)).status).toBe(404);

    // Deleted on another device while open here: the page lets go of it.
    const elsewhere = (await (await rest("POST", "/threads", { title: "Short-lived" })).json()) as { id: string };
    await threadsNav.getByRole("button", { name: "Short-lived", exact: true }).click();
    expect((await rest("DELETE", `/threads/${elsewhere.id}`)).status).toBe(204);
    await page.getByRole("alert").filter({ hasText: "That thread was deleted." }).waitFor();
    await threadsNav.getByRole("button", { name: "Short-lived", exact: true }).waitFor({ state: "detached" });
    expect(page.url()).not.toContain(elsewhere.id);
  }, 90_000);

  test("Stop ends a run cancelled with its partial text, and the model request is aborted", async () => {
    const words = Array.from({ length: 400 }, (_, index) => `w${index}`).join(" ");
    harness.fake.enqueue(textResponse(words, { chunkSize: 4, delayMs: 20 }));
    await openPage();
    const requestsBefore = harness.fake.requests.length;
    await sendMessage("Talk for a long time");
    await page.waitForFunction(() => (document.querySelector("li.message.assistant > .text")?.textContent ?? "").length > 20);
    await page.getByRole("button", { name: "Stop" }).click();
    await waitForStatus("cancelled");
    const partial = (await assistant().locator(":scope > .text").textContent()) ?? "";
    expect(partial.length).toBeGreaterThan(0);
    expect(words.startsWith(partial)).toBe(true);
    expect(partial.length).toBeLessThan(words.length);
    expect(await assistant().locator(".status").textContent()).toBe("stopped");
    await page.getByRole("button", { name: "Stop" }).waitFor({ state: "hidden" });
    const request = harness.fake.requests[requestsBefore]!;
    await waitFor(() => request.aborted, "the model request to be aborted");
  });

  test("a tool that needs approval shows a card; Approve runs it and the answer follows", async () => {
    harness.fake.enqueue(
      toolCallResponse([{ id: "call_calc", name: "calculator", arguments: { expression: "6 * 7" } }]),
      textResponse("The result is 42."),
    );
    await openPage();
    await sendMessage("What is 6 times 7?");
    const card = page.locator('.tool[data-call-id="call_calc"]');
    await card.and(page.locator('[data-status="awaiting_approval"]')).waitFor();
    expect(await card.locator("code").textContent()).toBe('{"expression":"6 * 7"}');
    mkdirSync(OUTPUT, { recursive: true });
    await page.screenshot({ path: join(OUTPUT, "chat-page-approval.png"), fullPage: true });
    await page.getByRole("button", { name: "Approve" }).click();
    await waitForStatus("completed");
    expect(await card.getAttribute("data-status")).toBe("done");
    expect(await card.locator(".result").textContent()).toBe("→ 42");
    expect(await assistant().locator(":scope > .text").textContent()).toBe("The result is 42.");
    expect(await page.getByRole("button", { name: "Approve" }).count()).toBe(0);
  });

  test("a reload while a tool waits for approval brings the card back, and Approve still works", async () => {
    harness.fake.enqueue(
      toolCallResponse([{ id: "call_wait", name: "calculator", arguments: { expression: "2 ^ 8" } }]),
      textResponse("That makes 256."),
    );
    await openPage();
    await sendMessage("Two to the eighth?");
    await page.locator('.tool[data-call-id="call_wait"][data-status="awaiting_approval"]').waitFor();
    await page.reload();
    await connected();
    await page.locator('.tool[data-call-id="call_wait"][data-status="awaiting_approval"]').waitFor();
    await page.getByRole("button", { name: "Approve" }).click();
    await waitForStatus("completed");
    expect(await page.locator('.tool[data-call-id="call_wait"] .result').textContent()).toBe("→ 256");
    expect(await assistant().locator(":scope > .text").textContent()).toBe("That makes 256.");
  });

  test("Reject tells the model, which answers without the tool", async () => {
    harness.fake.enqueue(
      toolCallResponse([{ id: "call_no", name: "calculator", arguments: { expression: "1 + 1" } }]),
      textResponse("Understood, no calculation."),
    );
    await openPage();
    await sendMessage("Add one and one");
    await page.getByRole("button", { name: "Reject" }).click();
    await waitForStatus("completed");
    expect(await page.locator('.tool[data-call-id="call_no"]').getAttribute("data-status")).toBe("rejected");
    expect(await assistant().locator(":scope > .text").textContent()).toBe("Understood, no calculation.");
  });

  test("a shared thread: the owner shares it in the Share dialog; each user sees the other come and go; both follow the agent's state through an approval", async () => {
    const threadsNav = (target: Page) => target.getByRole("navigation", { name: "Threads" });
    const watchers = (target: Page, expected: string) =>
      target.waitForFunction((names) => [...document.querySelectorAll("#watchers li")].map((item) => item.textContent).join(" | ") === names, expected);
    // Every state the agent's live region shows, in order, from now on.
    const recordAgentStates = (target: Page) =>
      target.evaluate(() => {
        const region = document.getElementById("agent-state")!;
        const states: string[] = ((window as unknown as { agentStates: string[] }).agentStates = []);
        new MutationObserver(() => states.push(region.dataset.state ?? "")).observe(region, { attributes: true, attributeFilter: ["data-state"] });
      });
    const agentStates = (target: Page) => target.evaluate(() => (window as unknown as { agentStates: string[] }).agentStates);

    // bob is signed in elsewhere, in a browser of his own.
    const bobContext = await browser.newContext({ viewport: { width: 1100, height: 700 } });
    const bob = await bobContext.newPage();
    bob.on("pageerror", (error) => problems.push(`bob's page: ${error.message}`));
    bob.on("console", (message) => {
      if (message.type() === "error" && message.text().includes("Content Security Policy")) problems.push(message.text());
    });
    await bob.goto(`${harness.server.httpUrl}/#token=${await harness.server.token({ sub: "bob" })}`);
    await bob.getByRole("status").filter({ hasText: /^connected$/ }).waitFor();

    // alice starts a thread from the page and is alone on it.
    harness.fake.enqueue(textResponse("Happy to help you both."));
    await openPage();
    await sendMessage("Plan the trip together");
    await waitForStatus("completed");
    await watchers(page, "alice (you)");
    const threadId = new URLSearchParams(new URL(page.url()).hash.slice(1)).get("thread")!;

    // She shares it with bob as viewer, then makes him an editor, in the dialog.
    await page.getByRole("button", { name: "Share", exact: true }).click();
    const dialog = page.getByRole("dialog", { name: "Share “Plan the trip together”" });
    await dialog.getByRole("textbox", { name: "User" }).fill("bob");
    await dialog.getByRole("combobox", { name: "Role", exact: true }).selectOption("viewer");
    await dialog.getByRole("button", { name: "Add" }).click();
    const bobsRole = dialog.getByRole("combobox", { name: "Role of bob" });
    await bobsRole.waitFor();
    expect(await bobsRole.inputValue()).toBe("viewer");
    // The shared thread appears in bob's list by itself, with his role.
    await threadsNav(bob).getByRole("button", { name: "Plan the trip together, shared with you as viewer" }).waitFor();
    expect(await threadsNav(bob).getByRole("button", { name: "Delete Plan the trip together" }).count()).toBe(0);
    await bobsRole.selectOption("editor");
    await threadsNav(bob).getByRole("button", { name: "Plan the trip together, shared with you as editor" }).waitFor();
    expect((await (await fetch(`${harness.server.httpUrl}/threads/${threadId}/members`, { headers: { authorization: `Bearer ${token}` } })).json()) as unknown).toMatchObject({
      members: [{ user: "bob", role: "editor" }],
    });
    expect(await unnamedControls(page)).toEqual([]);
    await page.screenshot({ path: join(OUTPUT, "chat-page-share.png"), fullPage: true });
    await page.keyboard.press("Escape");
    await dialog.waitFor({ state: "hidden" });
    expect(await page.getByRole("button", { name: "Share", exact: true }).evaluate((share) => share === document.activeElement)).toBe(true);

    // bob opens it: each sees the other.
    await threadsNav(bob).getByRole("button", { name: "Plan the trip together, shared with you as editor" }).click();
    await bob.locator("li.message.assistant").filter({ hasText: "Happy to help you both." }).waitFor();
    await watchers(bob, "bob (you) | alice");
    await watchers(page, "alice (you) | bob");
    expect(await bob.getByText("Shared with you as editor").count()).toBe(1);
    expect(await bob.getByRole("button", { name: "Share", exact: true }).count()).toBe(0);
    // alice in a second tab is one person with two connections; the tab closed, one again.
    const secondTab = await context.newPage();
    await secondTab.goto(`${harness.server.httpUrl}/#thread=${threadId}`);
    await watchers(bob, "bob (you) | alice (2)");
    await watchers(page, "alice (you, 2) | bob");
    await secondTab.close();
    await watchers(bob, "bob (you) | alice");

    // bob, an editor, asks for a calculation that waits for approval; both pages follow the agent.
    await recordAgentStates(page);
    await recordAgentStates(bob);
    harness.fake.enqueue(
      // Slow enough that each state outlasts the 100 ms in which presence changes are coalesced.
      toolCallResponse([{ id: "call_shared", name: "calculator", arguments: { expression: "6 * 7" } }], { delayMs: 60, splitArguments: true }),
      textResponse("Six sevens are 42, for both of you.", { chunkSize: 3, delayMs: 20 }),
    );
    await bob.getByRole("textbox", { name: "Message" }).fill("What is 6 times 7?");
    await bob.getByRole("button", { name: "Send" }).click();
    for (const target of [page, bob]) {
      await target.getByRole("status").filter({ hasText: "Agent is waiting for approval" }).waitFor();
      await target.locator('.tool[data-call-id="call_shared"][data-status="awaiting_approval"]').waitFor();
      await target.getByRole("button", { name: "Approve" }).waitFor();
    }
    await page.screenshot({ path: join(OUTPUT, "chat-page-shared-owner.png"), fullPage: true });
    await bob.screenshot({ path: join(OUTPUT, "chat-page-shared-editor.png"), fullPage: true });

    // Lowered to viewer while the tool waits, bob keeps following the run but may no longer write, stop,
    // approve or answer again; alice approves.
    await page.getByRole("button", { name: "Share", exact: true }).click();
    await dialog.getByRole("combobox", { name: "Role of bob" }).selectOption("viewer");
    await threadsNav(bob).getByRole("button", { name: "Plan the trip together, shared with you as viewer" }).waitFor();
    await dialog.getByRole("button", { name: "Close" }).click();
    await bob.getByText("Shared with you as viewer").waitFor();
    await bob.getByRole("textbox", { name: "Message" }).and(bob.locator(":disabled")).waitFor();
    expect(await bob.getByRole("button", { name: "Send" }).isDisabled()).toBe(true);
    await bob.getByRole("button", { name: "Approve" }).waitFor({ state: "detached" });
    expect(await bob.getByRole("button", { name: "Stop" }).isHidden()).toBe(true);
    await bob.locator('.tool[data-call-id="call_shared"][data-status="awaiting_approval"]').waitFor();
    await page.getByRole("button", { name: "Approve" }).click();
    for (const target of [page, bob]) {
      await target.locator("li.message.assistant").filter({ hasText: "Six sevens are 42, for both of you." }).waitFor();
      await target.locator('li.message.assistant[data-status="completed"]').last().waitFor();
      expect(await target.locator("li.message.assistant").last().locator(":scope > .text").textContent()).toBe("Six sevens are 42, for both of you.");
      expect(await target.locator("li.message.assistant").count()).toBe(2);
      // The agent has left.
      await target.waitForFunction(() => document.getElementById("agent-state")?.dataset.state === "" && document.getElementById("agent-state")?.textContent === "");
      const seen = (await agentStates(target)).filter((state, index, all) => state !== all[index - 1]);
      // States shorter than the coalescing interval may be passed over (the tool's run is instant); these may not.
      const milestones = seen.filter((state) => ["thinking", "awaiting_approval", "responding", ""].includes(state));
      expect(milestones.slice(0, 2)).toEqual(["thinking", "awaiting_approval"]);
      expect(milestones.slice(-2)).toEqual(["responding", ""]);
    }

    expect(await bob.getByRole("button", { name: "Regenerate" }).count()).toBe(0);
    expect(await page.getByRole("button", { name: "Regenerate" }).count()).toBe(1);
    // Followed again as a viewer: alice sees bob there; then he leaves the page, and she sees him go.
    await watchers(bob, "bob (you) | alice");
    await watchers(page, "alice (you) | bob");
    await bob.goto("about:blank");
    await watchers(page, "alice (you)");

    // bob comes back to the thread; alice stops sharing it, and his page lets it go.
    await bob.goto(`${harness.server.httpUrl}/#thread=${threadId}`);
    await watchers(page, "alice (you) | bob");
    await page.getByRole("button", { name: "Share", exact: true }).click();
    await dialog.getByRole("button", { name: "Remove bob" }).click();
    await dialog.getByText("Not shared with anyone yet.").waitFor();
    await watchers(page, "alice (you)");
    await bob.getByRole("alert").filter({ hasText: /no longer shared with you|not shared with you/ }).waitFor();
    await threadsNav(bob).getByRole("button", { name: /Plan the trip together/ }).waitFor({ state: "detached" });
    expect(await bob.locator("li.message").count()).toBe(0);
    expect(bob.url()).not.toContain(threadId);
    await bobContext.close();
  }, 60_000);

  test("a reload mid-stream resumes the answer: the full text once, nothing lost or doubled", async () => {
    const answer = Array.from({ length: 120 }, (_, index) => `t${index}`).join(" ");
    harness.fake.enqueue(textResponse(answer, { chunkSize: 5, delayMs: 20 }));
    await openPage();
    await sendMessage("Stream, and I will reload");
    await page.waitForFunction(() => (document.querySelector("li.message.assistant > .text")?.textContent ?? "").length > 40);
    await page.reload();
    await connected();
    // Still streaming after the reload, so the page resumed a live run rather than reading a finished one.
    await page.locator('li.message.assistant[data-status="streaming"]').waitFor();
    await waitForStatus("completed");
    expect(await page.locator("li.message.assistant").count()).toBe(1);
    expect(await assistant().locator(":scope > .text").textContent()).toBe(answer);
    expect(await page.getByRole("button", { name: "Stop" }).isHidden()).toBe(true);
  });

  test("a dropped network mid-stream: the page shows it, reconnects, and the answer arrives whole", async () => {
    const proxy = startTcpProxy(harness.server.app.port);
    try {
      const answer = Array.from({ length: 100 }, (_, index) => `d${index}`).join(" ");
      harness.fake.enqueue(textResponse(answer, { chunkSize: 5, delayMs: 20 }));
      await openPage(`http://localhost:${proxy.port}`);
      await sendMessage("Stream through a network drop");
      await page.waitForFunction(() => (document.querySelector("li.message.assistant > .text")?.textContent ?? "").length > 30);
      // The link drops and stays down until the page has tried again: it says so, then comes back by itself.
      proxy.refuse(true);
      proxy.cut();
      await page.getByRole("status").filter({ hasText: /connecting|disconnected/ }).waitFor();
      await waitFor(() => proxy.refused > 0, "a reconnect attempt while the link is down");
      proxy.refuse(false);
      await connected();
      await waitForStatus("completed");
      expect(await page.locator("li.message.assistant").count()).toBe(1);
      expect(await assistant().locator(":scope > .text").textContent()).toBe(answer);
    } finally {
      proxy.close();
    }
  });

  describe("a link with a token while another is stored", () => {
    let bob: string;
    beforeAll(async () => {
      bob = await harness.server.token({ sub: "bob" });
      for (const [owner, title] of [
        [token, "Alice's notes"],
        [bob, "Bob's notes"],
      ] as const) {
        const response = await fetch(`${harness.server.httpUrl}/threads`, {
          method: "POST",
          headers: { authorization: `Bearer ${owner}`, "content-type": "application/json" },
          body: JSON.stringify({ title }),
        });
        expect(response.status).toBe(201);
      }
    });

    const dialog = () => page.getByRole("dialog", { name: "Switch account?" });
    const threadButton = (title: string) => page.getByRole("navigation", { name: "Threads" }).getByRole("button", { name: title, exact: true });
    const storedToken = () => page.evaluate(() => localStorage.getItem("agentwire.token"));

    /** Signs the page in as alice through her link, then leaves it, as a user would between two links. */
    async function aliceStored(): Promise<void> {
      await openPage();
      await page.getByText("Signed in as alice").waitFor();
      await page.goto("about:blank");
    }

    async function showsAccount(user: string, own: string, other: string): Promise<void> {
      await connected();
      await page.getByText(`Signed in as ${user}`).waitFor();
      await threadButton(own).waitFor();
      expect(await threadButton(other).count()).toBe(0);
    }

    test("another user's token asks first; declining keeps alice, and a reload does not ask again", async () => {
      await aliceStored();
      await page.goto(`${harness.server.httpUrl}/#token=${bob}`);
      await dialog().waitFor({ timeout: 10_000 });
      expect(await dialog().textContent()).toContain("“bob”, in place of “alice”");
      // Nothing connects while the question is open.
      expect(await page.getByRole("status").textContent()).toBe("disconnected");
      await dialog().getByRole("button", { name: "Keep current account" }).click();
      await showsAccount("alice", "Alice's notes", "Bob's notes");
      expect(await storedToken()).toBe(token);
      expect(page.url()).not.toContain("#");
      await page.reload();
      await showsAccount("alice", "Alice's notes", "Bob's notes");
      expect(await dialog().count()).toBe(0);
    });

    test("accepting switches the page to bob", async () => {
      await aliceStored();
      await page.goto(`${harness.server.httpUrl}/#token=${bob}`);
      await dialog().getByRole("button", { name: "Switch account" }).click();
      await showsAccount("bob", "Bob's notes", "Alice's notes");
      expect(await storedToken()).toBe(bob);
      expect(page.url()).not.toContain("token=");
    });

    test("a fresh token for the same user replaces the stored one without asking", async () => {
      await aliceStored();
      const fresh = await harness.server.token({ sub: "alice" }, 7200);
      expect(fresh).not.toBe(token);
      await page.goto(`${harness.server.httpUrl}/#token=${fresh}`);
      await showsAccount("alice", "Alice's notes", "Bob's notes");
      expect(await dialog().count()).toBe(0);
      expect(await storedToken()).toBe(fresh);
    });
  });

  test("without a token the page asks for one; a refused token says so", async () => {
    await page.goto(harness.server.httpUrl);
    expect(await page.getByRole("alert").textContent()).toContain("Paste a token");
    await page.getByLabel("Token").fill("not-a-jwt");
    await page.getByRole("button", { name: "Connect" }).click();
    await page.getByRole("alert").filter({ hasText: "refused" }).waitFor();
    expect(await page.getByRole("status").textContent()).toBe("disconnected");
  });
});
