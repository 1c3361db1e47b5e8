// The dev token printed at start-up without JWT_SECRET is a plain user token for `dev`: its own
// namespace and threads, nothing else.

import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ROOT, spawnServer, type RunningServer } from "../helpers/process.ts";
import { waitFor } from "../helpers/wait.ts";
import { connectAs, type TestClient } from "../helpers/ws-client.ts";

let dataDir: string;
let server: RunningServer;
let devToken: string;
let client: TestClient;

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), "agentwire-dev-token-"));
  // No JWT_SECRET in the environment: the secret is generated in DATA_DIR and the log offers a token.
  server = await spawnServer(["bun", "run", "src/index.ts", "serve"], { cwd: ROOT, env: { DATA_DIR: dataDir } });
  // The token is logged just after the "listening" line that spawnServer waits for.
  const devLine = () => server.lines.find((record) => typeof record.token === "string");
  await waitFor(() => devLine() !== undefined, "the dev token in the log");
  devToken = String(devLine()!.token);
  client = await connectAs(`ws://127.0.0.1:${server.port}/ws`, devToken);
});

afterAll(async () => {
  client?.close();
  server?.process.kill("SIGTERM");
  await server?.exited;
  rmSync(dataDir, { recursive: true, force: true });
});

test("the dev token names user dev and carries no glob claims", () => {
  const claims = JSON.parse(Buffer.from(devToken.split(".")[1]!, "base64url").toString());
  expect(claims.sub).toBe("dev");
  expect(claims.subscribe).toBeUndefined();
  expect(claims.publish).toBeUndefined();
});

test("the dev token may subscribe and publish in dev's own namespace", async () => {
  expect((await client.subscribe("user:dev:x")).payload.status).toBe("subscribed");
  const ack = await client.publish("user:dev:x", { text: "hello" });
  expect(ack.payload).toMatchObject({ type: "published", channel: "user:dev:x", seq: 1 });
});

test("the dev token is forbidden on another user's namespace and on shared channels", async () => {
  for (const channel of ["user:alice:x", "room:1"]) {
    const subscribe = await client.subscribe(channel);
    expect([subscribe.channel, subscribe.payload.code]).toEqual(["error", "forbidden"]);
    const publish = await client.publish(channel, { text: "hello" });
    expect([publish.channel, publish.payload.code]).toEqual(["error", "forbidden"]);
  }
});
