// REST beside the socket: threads, messages, the seq/epoch snapshot, ownership and the OpenAPI page.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { SqliteStorage } from "../../src/storage/sqlite/sqlite-storage.ts";
import { textResponse } from "../helpers/fake-openai.ts";
import { collectRun, send, startAgentHarness, type AgentHarness } from "../helpers/runs.ts";
import { startTestServer } from "../helpers/server.ts";
import { waitFor } from "../helpers/wait.ts";
import { connectAs, type Frame } from "../helpers/ws-client.ts";

let harness: AgentHarness;
beforeAll(async () => {
  harness = await startAgentHarness({ SYSTEM_PROMPT: "" });
});
afterAll(() => harness.stop());

async function api(method: string, path: string, sub: string | undefined, body?: unknown) {
  const headers: Record<string, string> = { "content-type": "application/json" };
  if (sub) headers.authorization = `Bearer ${await harness.server.token({ sub })}`;
  const response = await fetch(`${harness.server.httpUrl}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : undefined };
}

describe("threads", () => {
  test("create, list newest first, ISO times, 401 without a token", async () => {
    const first = await api("POST", "/threads", "tina", { title: "First" });
    expect(first.status).toBe(201);
    expect(first.body).toEqual({ id: expect.any(String), title: "First", created_at: expect.any(String), updated_at: expect.any(String) });
    expect(new Date(first.body.created_at).toISOString()).toBe(first.body.created_at);
    await Bun.sleep(2);
    const second = await api("POST", "/threads", "tina");
    expect(second.body.title).toBe("");
    const listed = await api("GET", "/threads", "tina");
    expect(listed.body.threads.map((thread: { id: string }) => thread.id)).toEqual([second.body.id, first.body.id]);
    expect((await api("GET", "/threads", "other")).body.threads).toEqual([]);
    expect((await api("GET", "/threads", undefined)).status).toBe(401);
  });

  test("POST messages starts a run (202, the ack's fields); GET shows both messages with usage; title from the first message", async () => {
    const thread = (await api("POST", "/threads", "tina")).body;
    const watcher = await connectAs(harness.server.wsUrl, await harness.server.token({ sub: "tina" }));
    await watcher.subscribe(`thread:${thread.id}`);
    harness.fake.enqueue(textResponse("Stored answer."));
    const started = await api("POST", `/threads/${thread.id}/messages`, "tina", { content: "Remember this please", use_reasoning: false });
    expect(started.status).toBe(202);
    expect(started.body).toMatchObject({ status: "accepted", thread_id: thread.id, channel: `thread:${thread.id}` });
    await collectRun(watcher, started.body.message_id);
    await waitFor(() => harness.server.app.agent.activeRuns === 0, "the run to be stored");
    const read = await api("GET", `/threads/${thread.id}/messages`, "tina");
    expect(read.status).toBe(200);
    expect(read.body.messages).toEqual([
      { id: started.body.user_message_id, role: "user", content: "Remember this please", status: "completed", created_at: expect.any(String) },
      {
        id: started.body.message_id,
        role: "assistant",
        content: "Stored answer.",
        status: "completed",
        usage: { prompt_tokens: 10, completion_tokens: 5 },
        created_at: expect.any(String),
      },
    ]);
    expect(read.body.seq).toBeGreaterThan(0);
    expect(typeof read.body.epoch).toBe("string");
    expect((await api("GET", "/threads", "tina")).body.threads[0]).toMatchObject({ id: thread.id, title: "Remember this please" });
    watcher.close();
  });

  test("others get 404 on every thread route; bad bodies get 400 with details", async () => {
    const thread = (await api("POST", "/threads", "tina")).body;
    expect((await api("GET", `/threads/${thread.id}/messages`, "eve")).status).toBe(404);
    expect((await api("POST", `/threads/${thread.id}/messages`, "eve", { content: "x" })).status).toBe(404);
    expect((await api("DELETE", `/threads/${thread.id}`, "eve")).status).toBe(404);
    expect((await api("GET", "/threads/missing/messages", "tina")).body.code).toBe("not_found");
    const invalid = await api("POST", `/threads/${thread.id}/messages`, "tina", { content: 5 });
    expect(invalid.status).toBe(400);
    expect(invalid.body.code).toBe("invalid_message");
    expect(invalid.body.details).toContain("/content");
  });

  test("409 while a run is active; DELETE stops it, removes the thread and its messages", async () => {
    const thread = (await api("POST", "/threads", "tina")).body;
    harness.fake.enqueue(textResponse("long ".repeat(300), { chunkSize: 5, delayMs: 10 }));
    const requestsBefore = harness.fake.requests.length;
    const started = await api("POST", `/threads/${thread.id}/messages`, "tina", { content: "talk" });
    expect((await api("POST", `/threads/${thread.id}/messages`, "tina", { content: "again" })).status).toBe(409);
    // Delete once the model is streaming, so the scripted answer is not left for the next test.
    await harness.fake.waitForRequests(requestsBefore + 1);
    const deleted = await api("DELETE", `/threads/${thread.id}`, "tina");
    expect(deleted.status).toBe(204);
    expect(harness.server.app.agent.activeRuns).toBe(0);
    expect((await api("GET", `/threads/${thread.id}/messages`, "tina")).status).toBe(404);
    expect(await harness.server.app.storage.getMessage(started.body.message_id)).toBeUndefined();
  });
});

describe("the seq/epoch snapshot", () => {
  test("loading messages mid-stream and resuming with since: seq misses nothing and doubles nothing", async () => {
    const answer = "0123456789".repeat(30);
    harness.fake.enqueue(textResponse(answer, { chunkSize: 3, delayMs: 4 }));
    const client = await connectAs(harness.server.wsUrl, await harness.server.token({ sub: "tina" }));
    const ack = await send(client, "count");
    client.close();
    // Load the snapshot once some text was checkpointed, as a page reload would.
    let snapshot!: { messages: { id: string; content: string; status: string }[]; seq: number; epoch: string };
    await waitFor(async () => {
      snapshot = (await api("GET", `/threads/${ack.thread_id}/messages`, "tina")).body;
      return snapshot.messages.find((message) => message.id === ack.message_id)!.content.length > 0;
    }, "some text to be checkpointed");
    const partial = snapshot.messages.find((message) => message.id === ack.message_id)!;
    expect(partial.status).toBe("streaming");
    const reader = await connectAs(harness.server.wsUrl, await harness.server.token({ sub: "tina" }));
    const resumed = await reader.subscribe(`thread:${ack.thread_id}`, { since: snapshot.seq, epoch: snapshot.epoch });
    expect(resumed.payload.recovered).toBe(true);
    const events: Frame[] = await collectRun(reader, ack.message_id);
    const rest = events.filter((event) => event.payload.type === "response" && event.payload.status === "in_progress").map((event) => event.payload.message);
    expect(partial.content + rest.join("")).toBe(answer);
    reader.close();
  });
});

test("history is sent on the next turn, within the budget", async () => {
  const client = await connectAs(harness.server.wsUrl, await harness.server.token({ sub: "hugo" }));
  harness.fake.enqueue(textResponse("Nice to meet you, Hugo."));
  const first = await send(client, "My name is Hugo.");
  await collectRun(client, first.message_id);
  harness.fake.enqueue(textResponse("Hugo."));
  const second = await send(client, "What is my name?", { thread_id: first.thread_id });
  await collectRun(client, second.message_id);
  expect(harness.fake.requests.at(-1)!.body.messages).toEqual([
    { role: "user", content: "My name is Hugo." },
    { role: "assistant", content: "Nice to meet you, Hugo." },
    { role: "user", content: "What is my name?" },
  ]);
  client.close();
});

test("messages left streaming or awaiting approval by a crash are interrupted at the next start", async () => {
  const storage = SqliteStorage.open(":memory:");
  const streaming = await storage.createThread({ ownerId: "ivy", title: "crashed mid-answer" });
  const waiting = await storage.createThread({ ownerId: "ivy", title: "crashed waiting" });
  await storage.insertMessage({ id: "cut", threadId: streaming.id, ownerId: "ivy", role: "assistant", content: "half an ans", status: "streaming" });
  await storage.insertMessage({ id: "wait", threadId: waiting.id, ownerId: "ivy", role: "assistant", content: "", status: "awaiting_approval" });
  const restarted = await startTestServer({}, { storage });
  try {
    const token = await restarted.token({ sub: "ivy" });
    const read = async (threadId: string) =>
      (await (await fetch(`${restarted.httpUrl}/threads/${threadId}/messages`, { headers: { authorization: `Bearer ${token}` } })).json()).messages;
    expect(await read(streaming.id)).toMatchObject([{ id: "cut", status: "interrupted", content: "half an ans" }]);
    expect(await read(waiting.id)).toMatchObject([{ id: "wait", status: "interrupted" }]);
  } finally {
    await restarted.stop();
  }
});

test("without a provider the demo model streams an answer and a tool call", async () => {
  const demo = await startTestServer({ COALESCE_MS: "5" });
  try {
    expect(demo.app.model.name).toBe("demo");
    expect(demo.logs.some((line) => String(line.msg).includes("demo model"))).toBe(true);
    const client = await connectAs(demo.wsUrl, await demo.token({ sub: "dina" }));
    const calc = await send(client, "what is 12 * (3 + 4)?");
    const events = await collectRun(client, calc.message_id);
    const done = events.find((event) => event.payload.type === "tool" && event.payload.status === "done")!;
    expect(done.payload.tool).toMatchObject({ name: "calculator", result: "84" });
    expect(events.at(-1)!.payload).toMatchObject({ status: "completed", message: expect.stringContaining("84") });
    const hello = await send(client, "hello", { thread_id: calc.thread_id });
    const answer = (await collectRun(client, hello.message_id)).at(-1)!;
    expect(answer.payload.message).toContain("[demo model]");
    expect(answer.payload.message).toContain("OPENAI_API_KEY");
    client.close();
  } finally {
    await demo.stop();
  }
});

test("the OpenAPI page and its document describe the REST routes", async () => {
  const page = await fetch(`${harness.server.httpUrl}/openapi`);
  expect(page.status).toBe(200);
  expect(page.headers.get("content-type")).toContain("text/html");
  const document = await (await fetch(`${harness.server.httpUrl}/openapi/json`)).json();
  expect(Object.keys(document.paths)).toEqual(expect.arrayContaining(["/threads", "/threads/{id}/messages", "/threads/{id}", "/publish"]));
});

test("stopping the server ends active runs interrupted after the grace period", async () => {
  const local = await startAgentHarness({ SHUTDOWN_GRACE_S: "0.05" });
  local.fake.enqueue(textResponse("never ending ".repeat(500), { chunkSize: 5, delayMs: 10 }));
  const client = await connectAs(local.server.wsUrl, await local.server.token({ sub: "sam" }));
  const ack = await send(client, "go");
  await client.next((frame) => frame.payload.type === "response");
  const storage = local.server.app.storage;
  const closed = storage.close.bind(storage);
  let finalStatus: string | undefined;
  storage.close = async () => {
    finalStatus = (await storage.getMessage(ack.message_id))?.status;
    return closed();
  };
  await local.stop();
  expect(finalStatus).toBe("interrupted");
});
