// Renaming and regenerating over REST, and the notices a user's other clients get on
// `user:<sub>:notifications` whichever entry point changed a thread: REST, the socket, the AI SDK
// transport and AG-UI (docs/protocol.md sections 6.5, 7.3).

import { afterAll, beforeAll, expect, test } from "bun:test";
import { textResponse } from "../helpers/fake-openai.ts";
import { collectRun, send, startAgentHarness, type AgentHarness } from "../helpers/runs.ts";
import { waitFor } from "../helpers/wait.ts";
import { connectAs, type TestClient } from "../helpers/ws-client.ts";

let harness: AgentHarness;
beforeAll(async () => {
  harness = await startAgentHarness({ SYSTEM_PROMPT: "" });
});
afterAll(() => harness.stop());

async function api(method: string, path: string, sub: string, body?: unknown) {
  const headers: Record<string, string> = { authorization: `Bearer ${await harness.server.token({ sub })}` };
  if (body !== undefined) headers["content-type"] = "application/json";
  const response = await fetch(`${harness.server.httpUrl}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await response.text();
  return { status: response.status, body: text ? JSON.parse(text) : undefined };
}

/** A socket of `sub` following its notices. */
async function noticesOf(sub: string): Promise<TestClient> {
  const client = await connectAs(harness.server.wsUrl, await harness.server.token({ sub }));
  await client.subscribe(`user:${sub}:notifications`);
  return client;
}

const notice = (client: TestClient, type: string, threadId?: string) =>
  client.next((frame) => frame.channel.endsWith(":notifications") && frame.payload.type === type && (threadId === undefined || frame.payload.thread_id === threadId));

const runsIdle = () => waitFor(() => harness.server.app.agent.activeRuns === 0, "the runs to end");

test("rename: 200 with the thread, listed under the new title; 404 for others, 400 for a bad title; notices for every change", async () => {
  const watcher = await noticesOf("rita");
  const stranger = await noticesOf("sven");
  const created = (await api("POST", "/threads", "rita", { title: "Draft" })).body;
  expect((await notice(watcher, "thread_created")).payload).toEqual({ type: "thread_created", thread_id: created.id });

  const renamed = await api("PATCH", `/threads/${created.id}`, "rita", { title: "Trip to Lisbon" });
  expect(renamed.status).toBe(200);
  expect(renamed.body).toMatchObject({ id: created.id, title: "Trip to Lisbon" });
  expect((await api("GET", "/threads", "rita")).body.threads[0]).toMatchObject({ id: created.id, title: "Trip to Lisbon" });
  await notice(watcher, "thread_renamed", created.id);
  expect((await api("PATCH", `/threads/${created.id}`, "sven", { title: "mine now" })).status).toBe(404);
  const invalid = await api("PATCH", `/threads/${created.id}`, "rita", { title: "x".repeat(201) });
  expect(invalid.status).toBe(400);
  expect(invalid.body.details).toContain("/title");

  // A run over REST: started and finished.
  harness.fake.enqueue(textResponse("Pack light."));
  const started = (await api("POST", `/threads/${created.id}/messages`, "rita", { content: "Tips?" })).body;
  expect((await notice(watcher, "run_started", created.id)).payload).toEqual({ type: "run_started", thread_id: created.id, message_id: started.message_id });
  expect((await notice(watcher, "run_finished", created.id)).payload.message_id).toBe(started.message_id);

  // A send over the socket that starts a thread, from another connection of the same user.
  const other = await connectAs(harness.server.wsUrl, await harness.server.token({ sub: "rita" }));
  harness.fake.enqueue(textResponse("Hello."));
  const ack = await send(other, "Hi from my phone");
  await notice(watcher, "thread_created", ack.thread_id);
  expect((await notice(watcher, "run_started", ack.thread_id)).payload.message_id).toBe(ack.message_id);
  await collectRun(other, ack.message_id);

  // The AI SDK transport, naming a new thread.
  harness.fake.enqueue(textResponse("From the SDK."));
  const chatId = crypto.randomUUID();
  const response = await fetch(`${harness.server.httpUrl}/ai-sdk/chat`, {
    method: "POST",
    headers: { authorization: `Bearer ${await harness.server.token({ sub: "rita" })}`, "content-type": "application/json" },
    body: JSON.stringify({ id: chatId, trigger: "submit-message", messages: [{ id: "u1", role: "user", parts: [{ type: "text", text: "SDK here" }] }] }),
  });
  await response.text();
  await notice(watcher, "thread_created", chatId);
  await notice(watcher, "run_started", chatId);

  // AG-UI, naming a new thread.
  harness.fake.enqueue(textResponse("From AG-UI."));
  const agUiThread = crypto.randomUUID();
  const agUi = await fetch(`${harness.server.httpUrl}/ag-ui`, {
    method: "POST",
    headers: { authorization: `Bearer ${await harness.server.token({ sub: "rita" })}`, "content-type": "application/json" },
    body: JSON.stringify({ threadId: agUiThread, runId: "r1", messages: [{ id: "m1", role: "user", content: "AG-UI here" }], tools: [], context: [], state: {}, forwardedProps: {} }),
  });
  await agUi.text();
  await notice(watcher, "thread_created", agUiThread);
  await notice(watcher, "run_started", agUiThread);

  expect((await api("DELETE", `/threads/${created.id}`, "rita")).status).toBe(204);
  await notice(watcher, "thread_deleted", created.id);
  // Nothing of rita's reached another user.
  expect(stranger.drain((frame) => frame.channel.startsWith("user:"))).toEqual([]);
  await runsIdle();
  for (const client of [watcher, stranger, other]) client.close();
});

test("a shared thread's members get its notices: shared, runs (an editor's too), renamed, unshared, deleted; at most 100 members", async () => {
  const owner = await noticesOf("olga");
  const editor = await noticesOf("eddy");
  const viewer = await noticesOf("vera");
  const created = (await api("POST", "/threads", "olga", { title: "Shared plans" })).body;
  expect((await api("PUT", `/threads/${created.id}/members/eddy`, "olga", { role: "viewer" })).status).toBe(200);
  expect((await notice(editor, "thread_shared", created.id)).payload).toEqual({ type: "thread_shared", thread_id: created.id });
  // A change of role is told too.
  await api("PUT", `/threads/${created.id}/members/eddy`, "olga", { role: "editor" });
  await notice(editor, "thread_shared", created.id);
  await api("PUT", `/threads/${created.id}/members/vera`, "olga", { role: "viewer" });
  await notice(viewer, "thread_shared", created.id);

  // A run the editor starts reaches the owner and every member.
  harness.fake.enqueue(textResponse("Shared answer."));
  const started = (await api("POST", `/threads/${created.id}/messages`, "eddy", { content: "For all of us" })).body;
  for (const client of [owner, editor, viewer]) {
    expect((await notice(client, "run_started", created.id)).payload.message_id).toBe(started.message_id);
    expect((await notice(client, "run_finished", created.id)).payload.message_id).toBe(started.message_id);
  }
  await api("PATCH", `/threads/${created.id}`, "olga", { title: "Renamed plans" });
  for (const client of [owner, editor, viewer]) await notice(client, "thread_renamed", created.id);

  // A removed member hears it, and no more of the thread.
  expect((await api("DELETE", `/threads/${created.id}/members/vera`, "olga")).status).toBe(204);
  await notice(viewer, "thread_unshared", created.id);
  expect((await api("DELETE", `/threads/${created.id}`, "olga")).status).toBe(204);
  for (const client of [owner, editor]) await notice(client, "thread_deleted", created.id);
  expect(viewer.drain((frame) => frame.channel.startsWith("user:") && frame.payload.type === "thread_deleted")).toEqual([]);

  // The members a thread may have are bounded, and so is what each of its changes fans out to.
  const crowded = (await api("POST", "/threads", "olga")).body;
  const headers = { authorization: `Bearer ${await harness.server.token({ sub: "olga" })}`, "content-type": "application/json" };
  const put = (user: string) => fetch(`${harness.server.httpUrl}/threads/${crowded.id}/members/${user}`, { method: "PUT", headers, body: '{"role":"viewer"}' });
  for (let index = 0; index < 100; index++) expect((await put(`user${index}`)).status).toBe(200);
  const refused = await put("one-too-many");
  expect(refused.status).toBe(409);
  expect(((await refused.json()) as { code: string }).code).toBe("conflict");
  // A member already there may still change its role.
  expect((await put("user0")).status).toBe(200);
  await runsIdle();
  for (const client of [owner, editor, viewer]) client.close();
});

test("regenerate answers the last user message again and replaces the answer; it retries a stopped one; 409 while a run is active", async () => {
  const client = await connectAs(harness.server.wsUrl, await harness.server.token({ sub: "rita" }));
  harness.fake.enqueue(textResponse("first ".repeat(400), { chunkSize: 6, delayMs: 10 }));
  const ack = await send(client, "Tell me a story");
  await client.next((frame) => frame.payload.type === "response" && frame.payload.message_id === ack.message_id);
  expect((await api("POST", `/threads/${ack.thread_id}/regenerate`, "rita")).status).toBe(409);
  await client.request("chat", { action: "stop", message_id: ack.message_id });
  await collectRun(client, ack.message_id);
  await runsIdle();

  // Retry the stopped answer.
  harness.fake.enqueue(textResponse("A better story."));
  const again = await api("POST", `/threads/${ack.thread_id}/regenerate`, "rita", { use_reasoning: false });
  expect(again.status).toBe(202);
  expect(again.body).toMatchObject({ status: "accepted", thread_id: ack.thread_id, user_message_id: ack.user_message_id });
  expect(again.body.message_id).not.toBe(ack.message_id);
  await collectRun(client, again.body.message_id);
  await runsIdle();
  const messages = (await api("GET", `/threads/${ack.thread_id}/messages`, "rita")).body.messages;
  expect(messages.map((message: { id: string; content: string }) => [message.id, message.content])).toEqual([
    [ack.user_message_id, "Tell me a story"],
    [again.body.message_id, "A better story."],
  ]);
  // The model was asked the same question again, without the replaced answer.
  expect(harness.fake.requests.at(-1)!.body.messages).toEqual([{ role: "user", content: "Tell me a story" }]);

  const empty = (await api("POST", "/threads", "rita")).body;
  expect((await api("POST", `/threads/${empty.id}/regenerate`, "rita")).status).toBe(400);
  expect((await api("POST", `/threads/${ack.thread_id}/regenerate`, "sven")).status).toBe(404);
  client.close();
});
