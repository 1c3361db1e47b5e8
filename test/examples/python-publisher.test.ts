// The Python example publishes a whole run the way an external agent would; a subscriber sees it.

import { afterAll, beforeAll, expect, test } from "bun:test";
import { join } from "node:path";
import { ROOT, run } from "../helpers/process.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { connectAs } from "../helpers/ws-client.ts";

/** A Python with the `websockets` library: Debian's python3-websockets, or whatever python3 is first on PATH. */
async function findPython(): Promise<string | undefined> {
  for (const candidate of ["/usr/bin/python3", "python3"]) {
    const probe = await run([candidate, "-c", "import websockets"], {}).catch(() => undefined);
    if (probe?.code === 0) return candidate;
  }
  return undefined;
}

const python = await findPython();
if (!python) console.warn("skipping the Python example test: no python3 with the websockets library (apt-get install python3-websockets)");

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer();
});
afterAll(() => server.stop());

test.skipIf(!python)("examples/python-publisher.py streams status, tool, deltas and completed to the channel", async () => {
  const watcher = await connectAs(server.wsUrl, await server.token({ sub: "viewer", subscribe: ["agents:*"] }));
  await watcher.subscribe("agents:demo");
  const token = await server.token({ sub: "agent", publish: ["agents:*"] });
  const result = await run([python!, join(ROOT, "examples/python-publisher.py"), "agents:demo"], {
    AGENTWIRE_URL: server.wsUrl,
    AGENTWIRE_TOKEN: token,
  });
  expect(result.stderr).toBe("");
  expect(result.code).toBe(0);
  const final = await watcher.next((frame) => frame.channel === "agents:demo" && frame.payload.final_message === true);
  const events = [...watcher.drain((frame) => frame.channel === "agents:demo"), final];
  expect(events.map((event) => `${event.payload.type}/${event.payload.status}`)).toEqual([
    "status/started",
    "tool/processing",
    "tool/done",
    "status/responding",
    ...Array(7).fill("response/in_progress"),
    "response/completed",
  ]);
  expect(events.map((event) => event.seq)).toEqual(events.map((_, index) => index + 1));
  const text = events.filter((event) => event.payload.status === "in_progress").map((event) => event.payload.message).join("");
  expect(text.trim()).toBe(final.payload.message);
  watcher.close();
});
