// Shared threads (docs/protocol.md section 14): the owner manages members; a viewer reads (REST, socket,
// SSE, presence), an editor also sends, stops, approves and rejects; a removal ends the subscriptions at
// once; everyone else still gets not_found.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { textResponse, toolCallResponse } from "../helpers/fake-openai.ts";
import { collectRun, send, startAgentHarness, type AgentHarness } from "../helpers/runs.ts";
import { SseClient, dataOf } from "../helpers/sse-client.ts";
import { connectAs, type TestClient } from "../helpers/ws-client.ts";

let harness: AgentHarness;
const sockets: TestClient[] = [];
const tokens = new Map<string, string>();
let threadId: string;

async function token(sub: string): Promise<string> {
  if (!tokens.has(sub)) tokens.set(sub, await harness.server.token({ sub }));
  return tokens.get(sub)!;
}
async function api(method: string, path: string, sub: string, body?: unknown) {
  const headers: Record<string, string> = { authorization: `Bearer ${await token(sub)}` };
  if (body !== undefined) headers["content-type"] = "application/json";
  const response = await fetch(`${harness.server.httpUrl}${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  const text = await response.text();
  return { status: response.status, body: text ? (JSON.parse(text) as Record<string, any>) : undefined };
}
async function socket(sub: string): Promise<TestClient> {
  const client = await connectAs(harness.server.wsUrl, await token(sub));
  sockets.push(client);
  return client;
}
const sse = async (sub: string) => SseClient.open(`${harness.server.httpUrl}/threads/${threadId}/events`, { headers: { authorization: `Bearer ${await token(sub)}` } });

beforeAll(async () => {
  harness = await startAgentHarness({ TOOLS_REQUIRE_APPROVAL: "calculator" });
  threadId = (await api("POST", "/threads", "olga", { title: "Plans" })).body!.id;
});
afterAll(async () => {
  for (const client of sockets) client.close();
  await harness.stop();
});

describe("members", () => {
  test("the owner adds, lists and changes members; GET /threads shows each caller its role; nobody else may manage", async () => {
    const added = await api("PUT", `/threads/${threadId}/members/ed`, "olga", { role: "editor" });
    expect(added.status).toBe(200);
    expect(added.body).toEqual({ user: "ed", role: "editor", added_at: expect.any(String) });
    expect((await api("PUT", `/threads/${threadId}/members/vi`, "olga", { role: "viewer" })).body).toMatchObject({ user: "vi", role: "viewer" });
    expect((await api("PUT", `/threads/${threadId}/members/max`, "olga", { role: "viewer" })).status).toBe(200);
    expect((await api("DELETE", `/threads/${threadId}/members/max`, "olga")).status).toBe(204);
    expect((await api("DELETE", `/threads/${threadId}/members/max`, "olga")).status).toBe(404);
    expect((await api("GET", `/threads/${threadId}/members`, "olga")).body!.members.map((member: { user: string; role: string }) => `${member.user}:${member.role}`)).toEqual(["ed:editor", "vi:viewer"]);

    for (const [sub, role] of [["olga", "owner"], ["ed", "editor"], ["vi", "viewer"]] as const) {
      const listed = (await api("GET", "/threads", sub)).body!.threads.find((thread: { id: string }) => thread.id === threadId);
      expect(listed).toMatchObject({ id: threadId, title: "Plans", role });
    }
    expect((await api("GET", "/threads", "max")).body!.threads).toEqual([]);
    // Members and strangers alike cannot see the member list nor change it.
    for (const sub of ["ed", "vi", "max"]) {
      expect((await api("GET", `/threads/${threadId}/members`, sub)).status).toBe(404);
      expect((await api("PUT", `/threads/${threadId}/members/${sub}`, sub, { role: "editor" })).status).toBe(404);
      expect((await api("DELETE", `/threads/${threadId}/members/vi`, sub)).status).toBe(404);
      expect((await api("DELETE", `/threads/${threadId}`, sub)).status).toBe(sub === "max" ? 404 : 403);
    }
    expect((await api("PUT", `/threads/${threadId}/members/olga`, "olga", { role: "viewer" })).status).toBe(400);
    expect((await api("PUT", `/threads/${threadId}/members/x`, "olga", { role: "owner" })).status).toBe(400);
    expect((await api("PUT", `/threads/${threadId}/members/bad:name`, "olga", { role: "viewer" })).status).toBe(400);
  });
});

describe("roles", () => {
  test("an editor runs the thread and approves over REST; a viewer watches on the socket and SSE but may not act", async () => {
    const ed = await socket("ed");
    const vi = await socket("vi");
    const max = await socket("max");
    expect((await vi.subscribe(`thread:${threadId}`, { presence: true })).payload).toMatchObject({ status: "subscribed" });
    const viewerStream = await sse("vi");
    const editorStream = await sse("ed");
    expect((await max.subscribe(`thread:${threadId}`)).payload.code).toBe("forbidden");
    await expect(sse("max")).rejects.toThrow(/404/);
    expect((await api("GET", `/channels/thread:${threadId}/presence`, "vi")).status).toBe(200);
    expect((await max.request("subscription", { action: "presence", channel: `thread:${threadId}` })).payload.code).toBe("not_found");

    harness.fake.enqueue(toolCallResponse([{ id: "c1", name: "calculator", arguments: { expression: "6*7" } }]));
    harness.fake.enqueue(textResponse("42."));
    const ack = await send(ed, "6*7?", { thread_id: threadId });
    await vi.next((frame) => frame.payload?.message_id === ack.message_id && frame.payload.status === "awaiting_approval");
    expect((await vi.request("chat", { action: "approve", message_id: ack.message_id, call_id: "c1" })).payload.code).toBe("forbidden");
    expect((await max.request("chat", { action: "approve", message_id: ack.message_id, call_id: "c1" })).payload.code).toBe("forbidden");
    expect((await api("POST", `/threads/${threadId}/approve`, "vi", { message_id: ack.message_id, call_id: "c1" })).status).toBe(403);
    expect((await api("POST", `/threads/${threadId}/approve`, "max", { message_id: ack.message_id, call_id: "c1" })).status).toBe(404);
    expect((await api("POST", `/threads/${threadId}/approve`, "ed", { message_id: ack.message_id, call_id: "c1" })).body).toMatchObject({ status: "approved" });
    expect((await collectRun(vi, ack.message_id)).at(-1)!.payload.status).toBe("completed");
    const streamed = await viewerStream.next((item) => item.kind === "event" && item.data !== undefined && dataOf(item).final_message === true);
    expect(dataOf(streamed).message).toBe("42.");
    viewerStream.abort();
    await editorStream.next((item) => item.kind === "event" && item.data !== undefined && dataOf(item).final_message === true);
    editorStream.abort();

    // The run is stored in the thread like the owner's, and every member reads it.
    const read = await api("GET", `/threads/${threadId}/messages`, "vi");
    expect(read.body!.messages.map((message: { role: string; content: string }) => `${message.role}:${message.content}`)).toEqual(["user:6*7?", "assistant:42."]);
    expect((await harness.server.app.storage.getMessage(ack.message_id))!.ownerId).toBe("olga");
    expect((await api("GET", `/threads/${threadId}/messages`, "max")).status).toBe(404);

    // A viewer may not send nor stop, on the socket or over REST; a stranger is told there is no thread.
    expect((await vi.request("chat", { action: "send", thread_id: threadId, content: "hi" })).payload.code).toBe("forbidden");
    expect((await max.request("chat", { action: "send", thread_id: threadId, content: "hi" })).payload.code).toBe("not_found");
    expect((await api("POST", `/threads/${threadId}/messages`, "vi", { content: "hi" })).status).toBe(403);
    expect((await api("POST", `/threads/${threadId}/messages`, "max", { content: "hi" })).status).toBe(404);
    // The AI SDK and AG-UI transports check the same roles before any stream opens.
    const chat = { id: threadId, trigger: "submit-message", messages: [{ id: "u1", role: "user", parts: [{ type: "text", text: "hi" }] }] };
    expect((await api("POST", "/ai-sdk/chat", "vi", chat)).status).toBe(403);
    expect((await api("POST", "/ai-sdk/chat", "max", chat)).status).toBe(404);
    const input = { threadId, runId: "r1", messages: [{ id: "u1", role: "user", content: "hi" }], tools: [], context: [], state: {}, forwardedProps: {} };
    expect((await api("POST", "/ag-ui", "vi", input)).status).toBe(403);
    expect((await api("POST", "/ag-ui", "max", input)).status).toBe(404);
    expect((await fetch(`${harness.server.httpUrl}/ai-sdk/chat/${threadId}/stream`, { headers: { authorization: `Bearer ${await token("max")}` } })).status).toBe(204);
    harness.fake.enqueue(textResponse("word ".repeat(200), { chunkSize: 5, delayMs: 10 }));
    const slow = await api("POST", `/threads/${threadId}/messages`, "ed", { content: "talk" });
    expect(slow.status).toBe(202);
    await vi.next((frame) => frame.payload?.message_id === slow.body!.message_id && frame.payload.type === "response");
    expect((await vi.request("chat", { action: "stop", message_id: slow.body!.message_id })).payload.code).toBe("forbidden");
    expect((await api("POST", `/threads/${threadId}/stop`, "vi")).status).toBe(403);
    expect((await api("POST", `/threads/${threadId}/stop`, "max")).status).toBe(404);
    expect((await ed.request("chat", { action: "stop", message_id: slow.body!.message_id })).payload).toMatchObject({ status: "stopping" });
    expect((await collectRun(vi, slow.body!.message_id)).at(-1)!.payload.status).toBe("cancelled");
  });

  test("removing a member, or lowering an editor to viewer, ends their subscriptions at once; a viewer may subscribe again", async () => {
    const vi = await socket("vi");
    const ed = await socket("ed");
    await vi.subscribe(`thread:${threadId}`);
    await ed.subscribe(`thread:${threadId}`);
    const viewerStream = await sse("vi");
    expect((await api("DELETE", `/threads/${threadId}/members/vi`, "olga")).status).toBe(204);
    // The answer comes once every node has been told: the socket hears it, the stream has ended.
    expect((await vi.next((frame) => frame.channel === "subscription" && frame.payload.status === "unsubscribed")).payload).toEqual({
      status: "unsubscribed",
      channel: `thread:${threadId}`,
      reason: "forbidden",
    });
    await viewerStream.ended;
    expect((await vi.subscribe(`thread:${threadId}`)).payload.code).toBe("forbidden");
    expect((await api("GET", `/threads/${threadId}/messages`, "vi")).status).toBe(404);

    expect((await api("PUT", `/threads/${threadId}/members/ed`, "olga", { role: "viewer" })).body).toMatchObject({ role: "viewer" });
    expect((await ed.next((frame) => frame.channel === "subscription" && frame.payload.status === "unsubscribed")).payload.reason).toBe("forbidden");
    expect((await ed.subscribe(`thread:${threadId}`)).payload).toMatchObject({ status: "subscribed" });
    expect((await ed.request("chat", { action: "send", thread_id: threadId, content: "hi" })).payload.code).toBe("forbidden");
  });
});
