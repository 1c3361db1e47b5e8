// The chat page at `/` and its bundled files carry the security headers of docs/protocol.md section 9.5, and
// the page has no inline script for the Content-Security-Policy to allow.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { startTestServer, type TestServer } from "../helpers/server.ts";

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer();
});
afterAll(() => server?.stop());

/** The CSP header as a map from directive name to its source list. */
function directives(header: string | null): Map<string, string[]> {
  const parsed = new Map<string, string[]>();
  for (const part of (header ?? "").split(";")) {
    const [name, ...sources] = part.trim().split(/\s+/);
    if (name) parsed.set(name, sources);
  }
  return parsed;
}

describe("GET /", () => {
  test("has a Content-Security-Policy without inline script, framing, plugins or <base>, and nosniff", async () => {
    const response = await fetch(`${server.httpUrl}/`);
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toContain("text/html");
    expect(response.headers.get("x-content-type-options")).toBe("nosniff");
    const csp = directives(response.headers.get("content-security-policy"));
    expect(csp.get("script-src")).toEqual(["'self'"]);
    expect(csp.get("connect-src")).toEqual(["'self'"]);
    expect(csp.get("frame-ancestors")).toEqual(["'none'"]);
    expect(csp.get("object-src")).toEqual(["'none'"]);
    expect(csp.get("base-uri")).toEqual(["'none'"]);
    expect(csp.get("default-src")).toEqual(["'none'"]);
    for (const sources of csp.values()) expect(sources).not.toContain("'unsafe-inline'");
  });

  test("the page has no inline script or style and no inline event handler", async () => {
    const html = await (await fetch(`${server.httpUrl}/`)).text();
    const scripts = html.match(/<script\b[^>]*>[\s\S]*?<\/script>/gi) ?? [];
    expect(scripts.length).toBeGreaterThan(0);
    for (const script of scripts) {
      expect(script).toMatch(/\ssrc="\/[^"]+"/);
      expect(script.replace(/^<script\b[^>]*>|<\/script>$/gi, "").trim()).toBe("");
    }
    expect(html).not.toMatch(/<style\b|\sstyle=|\son[a-z]+=/i);
  });

  test("its script and stylesheet have nosniff and their own content types", async () => {
    const html = await (await fetch(`${server.httpUrl}/`)).text();
    const script = html.match(/<script[^>]+src="([^"]+)"/)?.[1];
    const stylesheet = html.match(/<link[^>]+rel="stylesheet"[^>]+href="([^"]+)"/)?.[1];
    for (const [path, type] of [
      [script, "text/javascript"],
      [stylesheet, "text/css"],
    ] as const) {
      expect(path).toBeDefined();
      const response = await fetch(`${server.httpUrl}${path}`);
      expect(response.status).toBe(200);
      expect(response.headers.get("content-type")).toContain(type);
      expect(response.headers.get("x-content-type-options")).toBe("nosniff");
      await response.body?.cancel();
    }
  });

  test("a cached page is revalidated by its ETag", async () => {
    const first = await fetch(`${server.httpUrl}/`);
    await first.body?.cancel();
    const etag = first.headers.get("etag");
    expect(etag).toBeTruthy();
    const again = await fetch(`${server.httpUrl}/`, { headers: { "if-none-match": etag! } });
    expect(again.status).toBe(304);
    expect(again.headers.get("content-security-policy")).toBe(first.headers.get("content-security-policy"));
  });
});
