// Oversized request bodies, with and without a token, leave the server's memory where it was (a child process, measured).

import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createTokenService } from "../../src/auth/tokens.ts";
import { ROOT, spawnServer, type RunningServer } from "../helpers/process.ts";

const SECRET = "body-memory-secret-0123456789";
const BODY_BYTES = 20 * 1024 * 1024;
const MiB = 1024 * 1024;

let server: RunningServer;
let dataDir: string;
let url: string;
let token: string;
let threadId: string;
beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), "agentwire-body-memory-"));
  server = await spawnServer(["bun", "run", join(ROOT, "src/index.ts")], { cwd: ROOT, env: { DATA_DIR: dataDir, JWT_SECRET: SECRET } });
  url = `http://localhost:${server.port}`;
  token = await createTokenService(SECRET).sign({ sub: "max", publish: ["*"] }, 600);
  const created = await fetch(`${url}/threads`, { method: "POST", headers: { authorization: `Bearer ${token}` } });
  threadId = ((await created.json()) as { id: string }).id;
});
afterAll(async () => {
  server.process.kill();
  await server.exited;
  rmSync(dataDir, { recursive: true, force: true });
});

/** A field of the child's /proc status, in bytes. */
async function statusBytes(field: "VmRSS" | "VmHWM"): Promise<number> {
  const status = await Bun.file(`/proc/${server.process.pid}/status`).text();
  return Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(status)![1]) * 1024;
}

/** Valid JSON of BODY_BYTES that each route would accept but for its size: what a parser-first server would keep. */
function bodyFor(path: string): Uint8Array<ArrayBuffer> {
  const [head, tail] = path === "/publish" ? ['{"channel":"user:max","payload":{"s":"', '"}}'] : ['{"content":"', '"}'];
  return new TextEncoder().encode(head + "x".repeat(BODY_BYTES - head.length - tail.length) + tail);
}

function chunked(bytes: Uint8Array): ReadableStream<Uint8Array> {
  let offset = 0;
  return new ReadableStream({
    pull(controller) {
      if (offset >= bytes.byteLength) return controller.close();
      controller.enqueue(bytes.subarray(offset, offset + 65_536));
      offset += 65_536;
    },
  });
}

async function send(path: string, body: BodyInit, withToken: boolean): Promise<number> {
  const headers: Record<string, string> = { "content-type": "application/json" };
  if (withToken) headers.authorization = `Bearer ${token}`;
  const response = await fetch(`${url}${path}`, { method: "POST", headers, body });
  await response.arrayBuffer();
  return response.status;
}

test(
  "20 MiB bodies, sized or chunked, with or without a token: 413 or 401, and RSS grows by less than 32 MiB",
  async () => {
    const paths = ["/publish", `/threads/${threadId}/messages`];
    // Warm up every path the measured requests take, so what is measured is what the bodies cost.
    for (const path of paths) {
      await send(path, new TextEncoder().encode("{}"), true);
      await send(path, chunked(new Uint8Array(2 * MiB).fill(32)), true);
      await send(path, new Uint8Array(2 * MiB).fill(32), false);
    }
    // Writing 5 resets the peak (VmHWM) to the current RSS: what it reaches after is the requests' peak.
    await Bun.write(`/proc/${server.process.pid}/clear_refs`, "5");
    const before = await statusBytes("VmRSS");
    const outcomes: string[] = [];
    for (const path of paths) {
      const body = bodyFor(path);
      outcomes.push(`${path} sized, no token: ${await send(path, body, false)}`);
      outcomes.push(`${path} sized, token: ${await send(path, body, true)}`);
      outcomes.push(`${path} chunked, no token: ${await send(path, chunked(body), false)}`);
      outcomes.push(`${path} chunked, token: ${await send(path, chunked(body), true)}`);
    }
    const growth = (await statusBytes("VmHWM")) - before;
    const expected = paths.flatMap((path) => [
      `${path} sized, no token: 413`,
      `${path} sized, token: 413`,
      `${path} chunked, no token: 401`,
      `${path} chunked, token: 413`,
    ]);
    expect(outcomes).toEqual(expected);
    // In MiB, so that a failure shows the figure.
    expect(growth / MiB).toBeLessThan(32);
  },
  60_000,
);
