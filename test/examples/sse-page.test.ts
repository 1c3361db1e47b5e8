// examples/sse-page.ts in a real Chromium (Debian's, driven by playwright-core): the page's EventSource
// rides out a cut of its connection with its own reconnect and Last-Event-ID, and shows every
// publication once, in order.

import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { existsSync } from "node:fs";
import { chromium, type Browser, type Page } from "playwright-core";
import { startExample } from "../helpers/process.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { startTcpProxy, type TcpProxy } from "../helpers/tcp-proxy.ts";
import { waitFor } from "../helpers/wait.ts";

const CHROMIUM = process.env.CHROMIUM_PATH ?? "/usr/bin/chromium";
const available = existsSync(CHROMIUM);
// EventSource waits its own reconnection delay (a few seconds in Chromium) after each failure.
setDefaultTimeout(60_000);
if (!available) console.warn(`SSE page browser test skipped: no Chromium at ${CHROMIUM} (apt-get install chromium, or set CHROMIUM_PATH)`);

describe.skipIf(!available)("examples/sse-page.html in Chromium", () => {
  let server: TestServer;
  let example: Awaited<ReturnType<typeof startExample>>;
  let browser: Browser;
  let token: string;

  beforeAll(async () => {
    server = await startTestServer();
    token = await server.token({ sub: "alice" });
    example = await startExample("examples/sse-page.ts", server.httpUrl);
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"],
    });
  });

  afterAll(async () => {
    await browser?.close();
    example?.child.kill();
    await server?.stop();
  });

  async function publish(channel: string, payload: Record<string, unknown>): Promise<void> {
    const response = await fetch(`${server.httpUrl}/publish`, {
      method: "POST",
      headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: JSON.stringify({ channel, payload }),
    });
    expect(response.status).toBe(200);
  }

  /** Every second payload is a run-style event with a type and a message; the others are bare ("publication"). */
  const payloadOf = (n: number) => (n % 2 === 0 ? { type: "status", status: "responding", message: `m${n}`, n } : { n });

  const shown = (page: Page) =>
    page.locator("#events li").evaluateAll((items) => items.map((item) => ({ seq: Number((item as HTMLElement).dataset.seq), text: item.textContent })));

  /** Opens the page through a proxy in front of the example's server, which a test cuts as a dropped network would. */
  async function openPage(proxy: TcpProxy, channel: string): Promise<Page> {
    const page = await (await browser.newContext()).newPage();
    await page.goto(`http://127.0.0.1:${proxy.port}/?token=${token}&channel=${channel}`);
    // "open" comes with the response, which the server sends once the stream is subscribed.
    await page.locator("#state").filter({ hasText: /^open$/ }).waitFor();
    return page;
  }

  async function publishAndSee(page: Page, channel: string, from: number, to: number): Promise<void> {
    for (let n = from; n <= to; n++) await publish(channel, payloadOf(n));
    await waitFor(async () => (await page.locator("#events li").count()) >= to, `${to} events on the page`, { timeoutMs: 30_000 });
  }

  test("publications before, during and after a cut of the connection all appear once, in order", async () => {
    const proxy = startTcpProxy(example.port);
    try {
      const channel = "user:alice:page";
      const page = await openPage(proxy, channel);
      await publishAndSee(page, channel, 1, 5);

      // The link drops and stays down until EventSource has tried again; publishing goes on meanwhile.
      proxy.refuse(true);
      proxy.cut();
      for (let n = 6; n <= 10; n++) await publish(channel, payloadOf(n));
      await page.locator("#state").filter({ hasText: /^reconnecting$/ }).waitFor();
      await waitFor(() => proxy.refused > 0, "a reconnect attempt while the link is down", { timeoutMs: 30_000 });
      proxy.refuse(false);
      // Back by itself: what was published while down is replayed from Last-Event-ID, then live again.
      await page.locator("#state").filter({ hasText: /^open$/ }).waitFor();
      await waitFor(async () => (await page.locator("#events li").count()) >= 10, "the 5 missed events", { timeoutMs: 30_000 });
      await publishAndSee(page, channel, 11, 15);

      const events = await shown(page);
      expect(events.map((event) => event.seq)).toEqual(Array.from({ length: 15 }, (_, index) => index + 1));
      expect(events[0]!.text).toBe('#1 publication: {"n":1,"seq":1}');
      expect(events[1]!.text).toBe("#2 status: m2");
      expect(events[9]!.text).toBe("#10 status: m10");
      await page.context().close();
    } finally {
      proxy.close();
    }
  });

  test("a cut between the example's server and agentwire reaches the page as a drop, and it resumes the same way", async () => {
    const upstream = startTcpProxy(server.app.port);
    const relay = await startExample("examples/sse-page.ts", `http://127.0.0.1:${upstream.port}`);
    // The browser's side is never cut here; the proxy only gives the page an address.
    const front = startTcpProxy(relay.port);
    try {
      const channel = "user:alice:upstream";
      const page = await openPage(front, channel);
      await publishAndSee(page, channel, 1, 3);
      upstream.refuse(true);
      upstream.cut();
      for (let n = 4; n <= 6; n++) await publish(channel, payloadOf(n));
      await waitFor(() => upstream.refused > 0, "a reconnect attempt while agentwire is out of reach", { timeoutMs: 30_000 });
      upstream.refuse(false);
      await waitFor(async () => (await page.locator("#events li").count()) >= 6, "the 3 missed events", { timeoutMs: 30_000 });
      await publishAndSee(page, channel, 7, 9);
      expect((await shown(page)).map((event) => event.seq)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9]);
      await page.context().close();
    } finally {
      front.close();
      relay.child.kill();
      upstream.close();
    }
  });
});
