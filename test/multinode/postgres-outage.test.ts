// PostgreSQL killed under a node: the node and its sockets stay up, channels keep working, every call
// that needs the database answers `unavailable` (503 on REST, "retry later") rather than `internal`,
// /readyz says not ready, and the same calls succeed again once the database is back.

import { afterAll, beforeAll, expect, test } from "bun:test";
import { collectRun } from "../helpers/runs.ts";
import { OwnPostgres, explainOwnPostgresSkip } from "../helpers/own-postgres.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { waitFor } from "../helpers/wait.ts";
import { connectAs } from "../helpers/ws-client.ts";

const skip = explainOwnPostgresSkip("the PostgreSQL outage test");
let database: OwnPostgres | undefined;
let server: TestServer | undefined;

beforeAll(async () => {
  if (skip) return;
  database = new OwnPostgres();
  await database.init();
  server = await startTestServer({ DATABASE_URL: database.url });
}, 60_000);
afterAll(async () => {
  await server?.stop().catch(() => undefined);
  await database?.remove();
});

async function api(method: string, path: string, body?: unknown) {
  const headers = { "content-type": "application/json", authorization: `Bearer ${await server!.token({ sub: "olga" })}` };
  const response = await fetch(`${server!.httpUrl}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : undefined };
}

const unavailable = { status: 503, body: { code: "unavailable", message: expect.any(String) } };

test.skipIf(skip)("PostgreSQL killed and started again: unavailable meanwhile, then everything works", async () => {
  const { httpUrl, wsUrl } = server!;
  const thread = await api("POST", "/threads", { title: "before" });
  expect(thread.status).toBe(201);
  const reader = await connectAs(wsUrl, await server!.token({ sub: "olga" }));
  const writer = await connectAs(wsUrl, await server!.token({ sub: "olga" }));
  expect((await reader.subscribe("user:olga:feed")).payload.status).toBe("subscribed");

  await database!.kill();
  expect(await api("GET", "/threads")).toEqual(unavailable);
  expect(await api("POST", "/threads", { title: "during" })).toEqual(unavailable);
  expect(await api("GET", `/threads/${thread.body.id}/messages`)).toEqual(unavailable);
  expect(await api("POST", `/threads/${thread.body.id}/messages`, { content: "hello" })).toEqual(unavailable);
  expect((await writer.request("chat", { action: "send", content: "hello" })).payload.code).toBe("unavailable");
  expect((await writer.request("chat", { action: "send", thread_id: thread.body.id, content: "hello" })).payload.code).toBe("unavailable");
  expect((await writer.request("chat", { action: "stop", message_id: crypto.randomUUID() })).payload.code).toBe("unavailable");
  expect((await writer.request("chat", { action: "approve", message_id: crypto.randomUUID(), call_id: "c" })).payload.code).toBe("unavailable");
  expect((await writer.subscribe(`thread:${thread.body.id}`)).payload.code).toBe("unavailable");
  // Channels that need no database work as before, on the same sockets.
  expect((await writer.publish("user:olga:feed", { n: 1 })).payload.type).toBe("published");
  expect((await reader.next((frame) => frame.channel === "user:olga:feed")).payload).toEqual({ n: 1 });
  expect((await fetch(`${httpUrl}/readyz`)).status).toBe(503);
  expect((await fetch(`${httpUrl}/healthz`)).status).toBe(200);
  // Nothing was treated as the server's own failure.
  expect(server!.logs.filter((line) => line.msg === "request failed" || line.msg === "frame handling failed")).toEqual([]);

  await database!.start();
  await waitFor(async () => (await fetch(`${httpUrl}/readyz`)).status === 200, "the node to be ready again", { timeoutMs: 20_000, intervalMs: 100 });
  await waitFor(async () => (await api("GET", "/threads")).status === 200, "GET /threads to succeed", { timeoutMs: 20_000, intervalMs: 100 });
  expect((await api("GET", "/threads")).body.threads.map((listed: { title: string }) => listed.title)).toEqual(["before"]);
  expect((await api("POST", "/threads", { title: "after" })).status).toBe(201);
  const ack = await writer.request("chat", { action: "send", thread_id: thread.body.id, content: "hello again" });
  expect(ack.payload.status).toBe("accepted");
  expect((await collectRun(writer, ack.payload.message_id, 15_000)).at(-1)!.payload).toMatchObject({ final_message: true, status: "completed" });
  expect(reader.closeInfo).toBeUndefined();
  expect(writer.closeInfo).toBeUndefined();
  reader.close();
  writer.close();
}, 90_000);
