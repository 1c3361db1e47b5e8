// examples/sse-curl.sh follows a channel with curl through a link that drops: after the cut it resumes
// with Last-Event-ID, and its output holds every publication once, in order.

import { afterAll, beforeAll, expect, setDefaultTimeout, test } from "bun:test";
import { join } from "node:path";
import { ROOT, run } from "../helpers/process.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { startTcpProxy, type TcpProxy } from "../helpers/tcp-proxy.ts";
import { waitFor } from "../helpers/wait.ts";

const script = join(ROOT, "examples/sse-curl.sh");
const curlFound = Bun.which("curl") !== null && Bun.which("bash") !== null;
if (!curlFound) console.warn("skipping the curl example test: it needs curl and bash (apt-get install curl)");
setDefaultTimeout(30_000);

let server: TestServer;
let proxy: TcpProxy;
let token: string;
beforeAll(async () => {
  server = await startTestServer();
  proxy = startTcpProxy(server.app.port);
  token = await server.token({ sub: "alice" });
});
afterAll(async () => {
  proxy.close();
  await server.stop();
});

/** Publishes straight to the server (not through the proxy), so publishing goes on while the link is down. */
async function publish(channel: string, payload: Record<string, unknown>): Promise<number> {
  const response = await fetch(`${server.httpUrl}/publish`, {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: JSON.stringify({ channel, payload }),
  });
  expect(response.status).toBe(200);
  return ((await response.json()) as { seq: number }).seq;
}

/** Every second payload has a type (its event name), the others have none ("publication"). */
const payloadOf = (n: number) => (n % 2 === 0 ? { type: "status", n } : { n });

/** Runs the script through the proxy, collecting its stdout lines and stderr as they come. */
function follow(args: string[]) {
  const child = Bun.spawn(["bash", script, ...args], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? "", TOKEN: token, AGENTWIRE_HTTP: `http://127.0.0.1:${proxy.port}`, SSE_RETRY_DELAY: "0.1" },
    stdout: "pipe",
    stderr: "pipe",
  });
  const output = { lines: [] as string[], stderr: "" };
  const collect = async (stream: ReadableStream<Uint8Array>, take: (text: string) => void) => {
    const decoder = new TextDecoder();
    for await (const chunk of stream) take(decoder.decode(chunk, { stream: true }));
  };
  let rest = "";
  const stdoutDone = collect(child.stdout, (text) => {
    rest += text;
    const lines = rest.split("\n");
    rest = lines.pop()!;
    output.lines.push(...lines);
  });
  const stderrDone = collect(child.stderr, (text) => (output.stderr += text));
  const exited = Promise.all([child.exited, stdoutDone, stderrDone]).then(([code]) => code);
  return { child, output, exited };
}

test.skipIf(!curlFound)("examples/sse-curl.sh resumes after a cut: every publication once, in order, and ends at the final one", async () => {
  const channel = "user:alice:feed";
  for (let n = 1; n <= 5; n++) await publish(channel, payloadOf(n));
  const { child, output, exited } = follow(["--from-start", "--until-final", "channel", channel]);
  try {
    // History first (--from-start), then live.
    await waitFor(() => output.lines.length === 5, "the 5 publications kept in history");
    for (let n = 6; n <= 10; n++) await publish(channel, payloadOf(n));
    await waitFor(() => output.lines.length === 10, "5 live publications");

    // The link drops and stays down until curl has tried again; publishing goes on meanwhile.
    proxy.refuse(true);
    proxy.cut();
    for (let n = 11; n <= 15; n++) await publish(channel, payloadOf(n));
    await waitFor(() => proxy.refused > 0, "a reconnect attempt while the link is down");
    proxy.refuse(false);
    for (let n = 16; n <= 20; n++) await publish(channel, payloadOf(n));
    await publish(channel, { n: 21, final_message: true });

    expect(await exited).toBe(0);
    const events = output.lines.map((line) => JSON.parse(line) as { n: number; seq: number; type?: string });
    expect(events.map((event) => event.seq)).toEqual(Array.from({ length: 21 }, (_, index) => index + 1));
    expect(events.map((event) => event.n)).toEqual(Array.from({ length: 21 }, (_, index) => index + 1));
    expect(events[1]).toEqual({ type: "status", n: 2, seq: 2 });
    // It said it resumed, from the last id it had before the cut.
    expect(output.stderr).toMatch(/resuming after [^:\s]+:10\]/);
  } finally {
    proxy.refuse(false);
    child.kill();
  }
});

test.skipIf(!curlFound)("a refused token stops it at once with exit 1; without a name it prints its usage", async () => {
  const refused = await run(["bash", script, "channel", "user:alice:feed"], { TOKEN: "not-a-jwt", AGENTWIRE_HTTP: server.httpUrl });
  expect(refused.code).toBe(1);
  expect(refused.stderr).toContain("refused by the server");
  expect(refused.stdout).toBe("");
  const usage = await run(["bash", script, "channel"], { TOKEN: token });
  expect(usage.code).toBe(2);
  expect(usage.stderr).toContain("usage:");
});
