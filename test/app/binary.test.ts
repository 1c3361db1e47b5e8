// Smoke test of the single binary: built with `bun run build`, run from an empty folder.

import { afterAll, beforeAll, expect, test } from "bun:test";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ROOT, run, spawnServer } from "../helpers/process.ts";
import { connectAs } from "../helpers/ws-client.ts";

let buildDir: string;
let emptyDir: string;
beforeAll(() => {
  buildDir = mkdtempSync(join(tmpdir(), "agentwire-build-"));
  emptyDir = mkdtempSync(join(tmpdir(), "agentwire-empty-"));
});
afterAll(() => {
  rmSync(buildDir, { recursive: true, force: true });
  rmSync(emptyDir, { recursive: true, force: true });
});

test("the compiled binary migrates a fresh database, serves, mints tokens and stops cleanly", async () => {
  const binary = join(buildDir, "agentwire");
  const build = await run(["bun", "build", "src/index.ts", "--compile", "--outfile", binary], {});
  expect(build.code).toBe(0);

  const token = await run([binary, "token", "--sub", "bin"], {}, emptyDir);
  expect(token.code).toBe(0);
  const server = await spawnServer([binary], { cwd: emptyDir, env: {} });
  try {
    expect(existsSync(join(emptyDir, "data", "agentwire.db"))).toBe(true);
    expect(await (await fetch(`http://localhost:${server.port}/readyz`)).json()).toEqual({ status: "ready" });
    // The generated secret was kept in ./data: the token minted before start works, and the log offers a dev token.
    const client = await connectAs(`ws://localhost:${server.port}/ws`, token.stdout.trim());
    expect((await client.subscribe("user:bin")).payload.status).toBe("subscribed");
    const devLine = server.lines.find((line) => typeof line.connect_url === "string");
    expect(String(devLine?.connect_url)).toMatch(new RegExp(`^ws://[^/]+:${server.port}/ws\\?token=`));
    const dev = await connectAs(`ws://localhost:${server.port}/ws`, String(devLine!.token));
    dev.close();
    // The chat page and its bundle are inside the binary, and the log links to it with the dev token.
    expect(String(devLine?.chat_page)).toMatch(new RegExp(`^http://[^/]+:${server.port}/#token=${devLine!.token}$`));
    const page = await fetch(`http://localhost:${server.port}/`);
    expect(page.headers.get("content-type")).toContain("text/html");
    // The embedded page keeps its security headers (docs/protocol.md section 9.5).
    expect(page.headers.get("content-security-policy")).toContain("script-src 'self'");
    expect(page.headers.get("x-content-type-options")).toBe("nosniff");
    const html = await page.text();
    expect(html).toContain('aria-label="Message"');
    const script = html.match(/<script[^>]+src="([^"]+)"/)?.[1];
    expect(script).toBeDefined();
    const bundle = await fetch(`http://localhost:${server.port}${script}`);
    expect(bundle.status).toBe(200);
    expect(bundle.headers.get("x-content-type-options")).toBe("nosniff");
    expect(await bundle.text()).toContain("agentwire.token");
    server.process.kill("SIGTERM");
    expect((await client.closed).code).toBe(1001);
    expect(await server.exited).toBe(0);
  } finally {
    server.process.kill("SIGKILL");
  }
}, 60_000);
