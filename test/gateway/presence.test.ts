// Presence on one node (docs/protocol.md section 14): join and leave frames for the subscribers that asked,
// the query on the socket and over REST, the agent on a thread while its run is active, and bursts coalesced.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { cutResponse, textResponse, toolCallResponse } from "../helpers/fake-openai.ts";
import { connectWithId, isPresence, PresenceView } from "../helpers/presence.ts";
import { collectRun, send, startAgentHarness, type AgentHarness } from "../helpers/runs.ts";
import { waitFor } from "../helpers/wait.ts";
import { connectAs, type TestClient } from "../helpers/ws-client.ts";

let harness: AgentHarness;
const opened: TestClient[] = [];
const token = (sub: string, subscribe: string[] = ["room:*"]) => harness.server.token({ sub, subscribe });
const get = async (path: string, sub: string) => {
  const response = await fetch(`${harness.server.httpUrl}${path}`, { headers: { authorization: `Bearer ${await token(sub)}` } });
  return { status: response.status, body: (await response.json()) as Record<string, any> };
};
async function connect(sub: string, subscribe?: string[]) {
  const connection = await connectWithId(harness.server.wsUrl, await token(sub, subscribe));
  opened.push(connection.client);
  return connection;
}

beforeAll(async () => {
  harness = await startAgentHarness({ TOOLS_REQUIRE_APPROVAL: "calculator" });
});
afterAll(async () => {
  for (const client of opened) client.close();
  await harness.stop();
});

describe("joins, leaves and the query", () => {
  test("join and leave reach the subscribers that asked, and nobody else; the query counts each connection", async () => {
    const watcher = await connect("wanda");
    const otherTab = await connect("wanda");
    const quiet = await connect("quinn");
    expect((await watcher.client.subscribe("room:1", { presence: true })).payload).toMatchObject({ status: "subscribed" });
    await otherTab.client.subscribe("room:1");
    await quiet.client.subscribe("room:1");
    const joining = await connect("jo");
    await joining.client.subscribe("room:1", { presence: true });
    // Joins close together come as one diff; a lone one in its own frame, in the single-change shape.
    const view = new PresenceView(watcher.client, "room:1");
    await waitFor(() => view.take().present.has(joining.id), "the watcher to see jo join");
    expect([...view.present.keys()].sort()).toEqual([otherTab.id, quiet.id, joining.id].sort());
    const late = await connect("kim");
    await late.client.subscribe("room:1");
    const join = await watcher.client.next((frame) => isPresence("room:1")(frame) && (frame as any).presence.client === late.id);
    expect(join).toEqual({ channel: "room:1", presence: { action: "join", user: "kim", client: late.id } } as never);
    late.client.close();
    const leave = await watcher.client.next((frame) => isPresence("room:1")(frame) && (frame as any).presence.action === "leave");
    expect(leave).toEqual({ channel: "room:1", presence: { action: "leave", user: "kim", client: late.id } } as never);

    const answer = await watcher.client.request("subscription", { action: "presence", channel: "room:1" });
    expect(answer.payload).toMatchObject({ status: "presence", channel: "room:1" });
    const clients = answer.payload.clients as { user: string; client: string; since: number }[];
    expect(clients.map((client) => client.client).sort()).toEqual([watcher.id, otherTab.id, quiet.id, joining.id].sort());
    expect(clients.filter((client) => client.user === "wanda")).toHaveLength(2);
    for (const client of clients) expect(client.since).toBeGreaterThan(1.7e9);
    expect((await get("/channels/room:1/presence", "quinn")).body).toEqual(answer.payload);

    joining.client.close();
    await otherTab.client.request("subscription", { action: "unsubscribe", channel: "room:1" });
    await waitFor(() => !view.take().present.has(joining.id) && !view.take().present.has(otherTab.id), "both to leave");
    // Those who did not ask saw nothing, nor did the joining client see its own join.
    await quiet.client.barrier();
    await otherTab.client.barrier();
    expect(quiet.client.pending(isPresence("room:1"))).toEqual([]);
    expect(otherTab.client.pending(isPresence("room:1"))).toEqual([]);
  });

  test("the query needs subscribe permission: forbidden on the socket, 403 over REST; another user's thread is not_found on both", async () => {
    const stranger = await connect("stranger", []);
    expect((await stranger.client.request("subscription", { action: "presence", channel: "room:1" })).payload.code).toBe("forbidden");
    const rest = await fetch(`${harness.server.httpUrl}/channels/room:1/presence`, { headers: { authorization: `Bearer ${await token("stranger", [])}` } });
    expect(rest.status).toBe(403);
    const owner = await connect("olive");
    harness.fake.enqueue(textResponse("hi"));
    const ack = await send(owner.client, "hello");
    await collectRun(owner.client, ack.message_id);
    expect((await get(`/channels/thread:${ack.thread_id}/presence`, "olive")).status).toBe(200);
    expect((await get(`/channels/thread:${ack.thread_id}/presence`, "mallory")).body.code).toBe("not_found");
    const mallory = await connect("mallory");
    expect((await mallory.client.request("subscription", { action: "presence", channel: `thread:${ack.thread_id}` })).payload.code).toBe("not_found");
    expect((await stranger.client.request("subscription", { action: "presence", channel: "room:1", limit: 0 })).payload.code).toBe("invalid_message");
    expect((await get("/channels/room:1/presence?limit=5000", "olive")).status).toBe(400);
  });

  test("a burst of joins is coalesced into one diff; the query pages through 5,000 clients with a cursor", async () => {
    const watcher = await connect("bea");
    await watcher.client.subscribe("room:burst", { presence: true });
    const { presence } = harness.server.app;
    const since = Date.now() / 1000;
    for (let index = 0; index < 5000; index++) void presence.join("room:burst", { user: `u${index % 50}`, client: `c${String(index).padStart(5, "0")}`, since });
    const view = new PresenceView(watcher.client, "room:burst");
    await waitFor(() => view.take().present.size === 5000, "every join to reach the watcher");
    // At most the first join goes out at once (the watcher's own join may have just used the interval);
    // the rest, within the same interval, make one diff.
    expect(view.frames.length).toBeLessThanOrEqual(2);
    expect((view.frames.at(-1) as any).presence).toMatchObject({ action: "diff", leaves: [], updates: [] });
    expect(view.frames.every((frame) => frame.seq === undefined)).toBe(true);

    const seen = new Set<string>();
    let cursor: string | undefined;
    let pages = 0;
    do {
      const answer = await watcher.client.request("subscription", { action: "presence", channel: "room:burst", limit: 1000, ...(cursor ? { cursor } : {}) });
      expect(answer.payload.clients.length).toBeLessThanOrEqual(1000);
      for (const client of answer.payload.clients) seen.add(client.client);
      cursor = answer.payload.next_cursor;
      pages++;
    } while (cursor);
    expect(seen.size).toBe(5001);
    expect(pages).toBe(6);
    const first = await get("/channels/room:burst/presence", "bea");
    expect(first.body.clients).toHaveLength(100);
    expect(first.body.next_cursor).toBe(first.body.clients[99].client);
    for (let index = 0; index < 5000; index++) void presence.leave("room:burst", `c${String(index).padStart(5, "0")}`);
    await waitFor(() => view.take().present.size === 0, "every leave to reach the watcher");
  });
});

describe("the agent on a thread", () => {
  /** A fresh thread of `sub`, watched with presence by a connection of the owner. */
  async function watchedThread(sub: string) {
    const owner = await connect(sub);
    const created = await fetch(`${harness.server.httpUrl}/threads`, { method: "POST", headers: { authorization: `Bearer ${await token(sub)}` } });
    const thread = (await created.json()) as { id: string };
    await owner.client.subscribe(`thread:${thread.id}`, { presence: true });
    return { owner: owner.client, threadId: thread.id, view: new PresenceView(owner.client, `thread:${thread.id}`) };
  }
  const agentIn = (answer: { payload: Record<string, any> }) => answer.payload.clients.filter((client: { user: string }) => client.user === "agent");

  test("present from the run's start, awaiting approval, then through approve to the final event", async () => {
    const { owner, threadId, view } = await watchedThread("ada");
    harness.fake.enqueue(toolCallResponse([{ id: "calc1", name: "calculator", arguments: { expression: "2+2" } }]));
    // Slow enough that the agent is seen responding before it leaves.
    harness.fake.enqueue(textResponse("It is four.", { delayMs: 60 }));
    const ack = await send(owner, "2+2?", { thread_id: threadId });
    await owner.next((frame) => frame.payload?.status === "awaiting_approval");
    await waitFor(() => view.take().present.get(ack.message_id)?.state === "awaiting_approval", "the agent awaiting approval");
    const waiting = await owner.request("subscription", { action: "presence", channel: `thread:${threadId}` });
    expect(agentIn(waiting)).toEqual([{ user: "agent", client: ack.message_id, since: expect.any(Number), state: "awaiting_approval" }]);
    await owner.request("chat", { action: "approve", message_id: ack.message_id, call_id: "calc1" });
    const events = await collectRun(owner, ack.message_id);
    expect(events.at(-1)!.payload.status).toBe("completed");
    await waitFor(() => !view.take().present.has(ack.message_id), "the agent to leave");
    // Changes within one interval are coalesced, so the states seen are those that lasted.
    const states = view.states.get(ack.message_id)!;
    expect(states.slice(states.indexOf("awaiting_approval"))).toContain("responding");
    expect(agentIn(await owner.request("subscription", { action: "presence", channel: `thread:${threadId}` }))).toEqual([]);
    // Presence is never history: a replay from the start holds run events only.
    const replay = await owner.subscribe(`thread:${threadId}`, { since: 0, epoch: events[0]!.payload && (await owner.subscribe(`thread:${threadId}`)).payload.epoch });
    expect(replay.payload.recovered).toBe(true);
    await owner.barrier();
    const replayed = owner.drain((frame) => frame.channel === `thread:${threadId}`);
    expect(replayed.length).toBeGreaterThan(0);
    expect(replayed.every((frame) => frame.seq !== undefined && (frame as any).presence === undefined)).toBe(true);
  });

  test("gone when the run is stopped, and when it ends in error", async () => {
    const { owner, threadId, view } = await watchedThread("stella");
    harness.fake.enqueue(textResponse("word ".repeat(200), { chunkSize: 5, delayMs: 10 }));
    const ack = await send(owner, "talk", { thread_id: threadId });
    await waitFor(() => view.take().present.get(ack.message_id)?.state === "responding", "the agent responding", { timeoutMs: 2000 });
    await owner.request("chat", { action: "stop", message_id: ack.message_id });
    expect((await collectRun(owner, ack.message_id)).at(-1)!.payload.status).toBe("cancelled");
    await waitFor(() => !view.take().present.has(ack.message_id), "the agent to leave after the stop");

    // A stream that breaks off once the agent is seen responding: the run ends in error.
    harness.fake.enqueue(cutResponse(8, textResponse("word ".repeat(50), { chunkSize: 5, delayMs: 40 })));
    const failed = await send(owner, "fail", { thread_id: threadId });
    await waitFor(() => view.take().present.get(failed.message_id)?.state === "responding", "the agent responding", { timeoutMs: 2000 });
    expect((await collectRun(owner, failed.message_id)).at(-1)!.payload.status).toBe("error");
    await waitFor(() => !view.take().present.has(failed.message_id), "the agent to leave after the error");
    expect(view.frames.every((frame) => frame.seq === undefined)).toBe(true);
  });
});
