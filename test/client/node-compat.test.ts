// The SDK runs outside Bun: it imports nothing of the server or of Bun/Node, and a bundle of it works on
// Node 20 with an injected WebSocket constructor against the real server.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { AgentwireClient } from "../../src/client/index.ts";
import { SocketControl } from "../helpers/controlled-websocket.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { waitFor } from "../helpers/wait.ts";

const clientDir = join(import.meta.dir, "../../src/client");
// The protocol files with no imports of their own (the rest are imported for types only).
const RUNTIME_PROTOCOL = new Set(["../protocol/agent-state.ts", "../protocol/channels.ts", "../protocol/codes.ts"]);

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer();
});
afterAll(() => server.stop());

describe("no server code, no runtime-specific APIs", () => {
  test("runtime imports are the SDK's own files and three dependency-free protocol files; the rest is `import type`", () => {
    for (const file of readdirSync(clientDir).filter((name) => name.endsWith(".ts"))) {
      const source = readFileSync(join(clientDir, file), "utf8");
      for (const match of source.matchAll(/^(?:import|export)\s+(type\s+)?[^;]*?from\s+"([^"]+)";/gms)) {
        const [, typeOnly, specifier] = match;
        const where = `${file}: ${specifier}`;
        expect(where).toMatch(/: \.\.?\//);
        if (specifier!.startsWith("../")) {
          expect(where).toMatch(/: \.\.\/protocol\//);
          if (!typeOnly) expect(RUNTIME_PROTOCOL.has(specifier!) ? "ok" : where).toBe("ok");
        }
      }
      expect(`${file}: ${/\bBun\.|\bprocess\.|\brequire\(|from "(?:bun|node:)/.exec(source)?.[0] ?? "clean"}`).toBe(`${file}: clean`);
    }
  });
});

describe("the package export", () => {
  test("agentwire/client is the SDK's index", async () => {
    const exported = await import("agentwire/client");
    expect(exported.AgentwireClient).toBe(AgentwireClient);
  });
});

describe("an injected WebSocket constructor", () => {
  test("is the only one used", async () => {
    const control = new SocketControl();
    const client = new AgentwireClient({ url: server.wsUrl, token: await server.token({ sub: "nora" }), WebSocket: control.WebSocket });
    client.connect();
    await waitFor(() => client.state === "connected", "the client to connect");
    expect(control.sockets).toHaveLength(1);
    expect(await client.publish("user:nora", { n: 1 })).toEqual({ seq: 1 });
    client.close();
  });
});

const nodeVersion = Bun.which("node") ? Bun.spawnSync(["node", "--version"]).stdout.toString().trim() : "";
const nodeMajor = Number(/^v(\d+)/.exec(nodeVersion)?.[1] ?? 0);

describe("Node", () => {
  test.skipIf(nodeMajor < 20)(`a bundle of the SDK works on Node (${nodeVersion || "not installed"}) with an injected WebSocket`, async () => {
    const dir = mkdtempSync(join(tmpdir(), "agentwire-node-"));
    try {
      const build = await Bun.build({ entrypoints: [join(clientDir, "index.ts")], target: "node", format: "esm" });
      expect(build.success).toBe(true);
      writeFileSync(join(dir, "client.mjs"), await build.outputs[0]!.text());
      writeFileSync(
        join(dir, "smoke.mjs"),
        `import { AgentwireClient } from "./client.mjs";
const [url, token] = process.argv.slice(2);
// Node 20 has no global WebSocket by default; undici's comes with --experimental-websocket (or pass \`ws\`).
// Each socket counts the heartbeat pings it sends.
const sockets = [];
const WebSocketImpl = class extends globalThis.WebSocket {
  pings = 0;
  constructor(url) {
    super(url);
    sockets.push(this);
  }
  send(data) {
    if (String(data).includes('"ping"')) this.pings++;
    super.send(data);
  }
};
const make = () => new AgentwireClient({ url, token, WebSocket: WebSocketImpl, heartbeatIntervalMs: 50 });
const subscriber = make();
const publisher = make();
const seen = [];
subscriber.subscribe("user:node:smoke", (publication) => seen.push(publication.seq));
subscriber.connect();
publisher.connect();
const until = async (condition) => { while (!condition()) await new Promise((resolve) => setTimeout(resolve, 5)); };
await until(() => subscriber.getSubscription("user:node:smoke").state === "subscribed");
const acks = [];
for (let n = 1; n <= 3; n++) acks.push((await publisher.publish("user:node:smoke", { n })).seq);
await until(() => seen.length === 3);
const threads = await subscriber.threads.list();
// Heartbeats run on Node too: a ping goes out only after the previous one's pong, so three each means two answered.
await until(() => sockets.filter((socket) => socket.pings >= 3).length >= 2);
console.log(JSON.stringify({ acks, seen, threads: Array.isArray(threads), state: subscriber.state }));
subscriber.close();
publisher.close();
`,
      );
      const flags = nodeMajor < 22 ? ["--experimental-websocket"] : [];
      const child = Bun.spawn(["node", ...flags, join(dir, "smoke.mjs"), server.wsUrl, await server.token({ sub: "node" })], { stdout: "pipe", stderr: "pipe" });
      const timer = setTimeout(() => child.kill(), 10_000);
      const [stdout, stderr, exitCode] = await Promise.all([new Response(child.stdout).text(), new Response(child.stderr).text(), child.exited]);
      clearTimeout(timer);
      expect({ exitCode, stderr: stderr.replace(/.*ExperimentalWarning.*\n?|.*--trace-warnings.*\n?/g, "") }).toEqual({ exitCode: 0, stderr: "" });
      expect(JSON.parse(stdout)).toEqual({ acks: [1, 2, 3], seen: [1, 2, 3], threads: true, state: "connected" });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
