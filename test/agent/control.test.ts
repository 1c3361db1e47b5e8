// Controlling runs: stop, approve, reject, approval timeout, conflict, limits and ownership.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { textResponse, toolCallResponse } from "../helpers/fake-openai.ts";
import { collectRun, deltas, send, shape, startAgentHarness, type AgentHarness } from "../helpers/runs.ts";
import { waitFor } from "../helpers/wait.ts";
import { connectAs, type TestClient } from "../helpers/ws-client.ts";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SqliteStorage } from "../../src/storage/sqlite/sqlite-storage.ts";
import type { Storage } from "../../src/storage/storage.ts";

let harness: AgentHarness;
let alice: TestClient;
let mallory: TestClient;
const authHeader = async (sub: string) => ({ authorization: `Bearer ${await harness.server.token({ sub })}` });

beforeAll(async () => {
  harness = await startAgentHarness({ TOOLS_REQUIRE_APPROVAL: "calculator", APPROVAL_TIMEOUT_S: "5", MAX_RUNS_PER_USER: "2" });
  alice = await connectAs(harness.server.wsUrl, await harness.server.token({ sub: "alice" }));
  mallory = await connectAs(harness.server.wsUrl, await harness.server.token({ sub: "mallory" }));
});
afterAll(async () => {
  alice.close();
  mallory.close();
  await harness.stop();
});

const slowAnswer = () => textResponse("word ".repeat(200), { chunkSize: 5, delayMs: 10 });

/** Stops a run once its model request is streaming (so its scripted response is used), and waits for the end. */
async function stopOnceStreaming(client: TestClient, messageId: string) {
  await client.next((frame) => frame.payload.message_id === messageId && frame.payload.type === "response");
  await client.request("chat", { action: "stop", message_id: messageId });
  return collectRun(client, messageId);
}

describe("stop", () => {
  test("aborts the model request; the run ends cancelled with the text so far", async () => {
    harness.fake.enqueue(slowAnswer());
    const ack = await send(alice, "talk slowly");
    await alice.next((frame) => frame.payload.message_id === ack.message_id && frame.payload.type === "response");
    const stopping = await alice.request("chat", { action: "stop", message_id: ack.message_id });
    expect(stopping.payload).toMatchObject({ status: "stopping" });
    const events = await collectRun(alice, ack.message_id);
    const final = events.at(-1)!.payload;
    expect(final).toMatchObject({ type: "response", status: "cancelled", final_message: true });
    expect(final.message.length).toBeGreaterThan(0);
    expect(final.message.length).toBeLessThan("word ".repeat(200).length);
    await waitFor(() => harness.fake.requests.at(-1)!.aborted, "the fake to see the request aborted");
    const stored = await harness.server.app.storage.getMessage(ack.message_id);
    expect(stored).toMatchObject({ status: "cancelled", content: final.message });
  });

  test("a finished or unknown run is not_found; another user's run is forbidden", async () => {
    expect((await alice.request("chat", { action: "stop", message_id: "nope" })).payload.code).toBe("not_found");
    harness.fake.enqueue(slowAnswer());
    const ack = await send(alice, "mine");
    expect((await mallory.request("chat", { action: "stop", message_id: ack.message_id })).payload.code).toBe("forbidden");
    expect((await mallory.request("chat", { action: "approve", message_id: ack.message_id, call_id: "x" })).payload.code).toBe("forbidden");
    await stopOnceStreaming(alice, ack.message_id);
    expect((await alice.request("chat", { action: "stop", message_id: ack.message_id })).payload.code).toBe("not_found");
  });
});

describe("stopping a thread's run (for REST)", () => {
  test("stops the run on the owner's thread, only the named one; not_found for another user, another run or none", async () => {
    const { control } = harness.server.app.agent;
    harness.fake.enqueue(slowAnswer());
    const ack = await send(alice, "stop me by thread");
    await alice.next((frame) => frame.payload.message_id === ack.message_id && frame.payload.type === "response");
    // Another user's thread answers as one without a run, so thread ids cannot be probed.
    await expect(control.stopThreadRun("mallory", ack.thread_id)).rejects.toMatchObject({ code: "not_found" });
    await expect(control.stopThreadRun("alice", ack.thread_id, "another-message")).rejects.toMatchObject({ code: "not_found" });
    expect(await control.stopThreadRun("alice", ack.thread_id, ack.message_id)).toBe(ack.message_id);
    expect((await collectRun(alice, ack.message_id)).at(-1)!.payload).toMatchObject({ type: "response", status: "cancelled" });
    await expect(control.stopThreadRun("alice", ack.thread_id)).rejects.toMatchObject({ code: "not_found" });
    await expect(control.stopThreadRun("alice", "no-such-thread")).rejects.toMatchObject({ code: "not_found" });
  });
});

describe("approvals", () => {
  test("awaiting_approval is stored and shown over REST; approve goes on with processing and done", async () => {
    harness.fake.enqueue(toolCallResponse([{ id: "calc1", name: "calculator", arguments: { expression: "2^10" } }]), textResponse("1024"));
    const ack = await send(alice, "2^10?");
    const waiting = await alice.next((frame) => frame.payload.message_id === ack.message_id && frame.payload.status === "awaiting_approval");
    expect(waiting.payload.tool).toEqual({ call_id: "calc1", name: "calculator", arguments: { expression: "2^10" } });
    const listed = await (await fetch(`${harness.server.httpUrl}/threads/${ack.thread_id}/messages`, { headers: await authHeader("alice") })).json();
    const pending = listed.messages.find((message: { id: string }) => message.id === ack.message_id);
    expect(pending).toMatchObject({ status: "awaiting_approval", tool_calls: [{ call_id: "calc1", status: "awaiting_approval" }] });
    // Another connection of the owner approves: runs belong to threads, not sockets.
    const otherTab = await connectAs(harness.server.wsUrl, await harness.server.token({ sub: "alice" }));
    expect((await otherTab.request("chat", { action: "approve", message_id: ack.message_id, call_id: "wrong" })).payload.code).toBe("not_found");
    const approved = await otherTab.request("chat", { action: "approve", message_id: ack.message_id, call_id: "calc1" });
    expect(approved.payload).toMatchObject({ status: "approved" });
    otherTab.close();
    const events = await collectRun(alice, ack.message_id);
    // awaiting_approval (seq 2) was taken above; the rest follows it
    expect(events[0]!.seq).toBe(1);
    expect(events[1]!.seq).toBe(waiting.seq! + 1);
    expect(shape(events).slice(0, 3)).toEqual(["status/started", "tool/processing", "tool/done"]);
    expect(events[2]!.payload.tool.result).toBe("1024");
    expect(await harness.server.app.storage.getMessage(ack.message_id)).toMatchObject({
      status: "completed",
      toolCalls: [{ call_id: "calc1", status: "done", result: "1024" }],
    });
  });

  test("an approve sent the moment awaiting_approval arrives finds the call waiting, however slow the store", async () => {
    // The run stores the awaiting step after publishing it; a slow database (PostgreSQL on a busy
    // machine) must not open a window in which the call is announced but not yet waiting.
    const dir = mkdtempSync(join(tmpdir(), "agentwire-slow-store-"));
    const inner = SqliteStorage.open(join(dir, "agentwire.db"));
    const slow = new Proxy(inner, {
      get(target, property, receiver) {
        if (property === "checkpoint") return async (...args: Parameters<Storage["checkpoint"]>) => (await Bun.sleep(300), target.checkpoint(...args));
        const value = Reflect.get(target, property, receiver);
        return typeof value === "function" ? value.bind(target) : value;
      },
    }) as Storage;
    const own = await startAgentHarness({ TOOLS_REQUIRE_APPROVAL: "calculator" }, { storage: slow });
    try {
      own.fake.enqueue(toolCallResponse([{ id: "quick", name: "calculator", arguments: { expression: "3*3" } }]), textResponse("9"));
      const client = await connectAs(own.server.wsUrl, await own.server.token({ sub: "alice" }));
      const ack = await send(client, "3*3?");
      await client.next((frame) => frame.payload.message_id === ack.message_id && frame.payload.status === "awaiting_approval");
      expect((await client.request("chat", { action: "approve", message_id: ack.message_id, call_id: "quick" })).payload).toMatchObject({ status: "approved" });
      expect((await collectRun(client, ack.message_id)).at(-1)!.payload).toMatchObject({ status: "completed", message: "9" });
      client.close();
    } finally {
      await own.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test("reject: rejected with the reason, and the model is told", async () => {
    harness.fake.enqueue(toolCallResponse([{ id: "calc2", name: "calculator", arguments: { expression: "1+1" } }]), textResponse("ok, I will not"));
    const ack = await send(alice, "1+1?");
    await alice.next((frame) => frame.payload.message_id === ack.message_id && frame.payload.status === "awaiting_approval");
    const rejected = await alice.request("chat", { action: "reject", message_id: ack.message_id, call_id: "calc2", reason: "not now" });
    expect(rejected.payload).toMatchObject({ status: "rejected" });
    const events = await collectRun(alice, ack.message_id);
    const event = events.find((candidate) => candidate.payload.status === "rejected")!;
    expect(shape(events).slice(0, 2)).toEqual(["status/started", "tool/rejected"]);
    expect(event.payload.tool).toMatchObject({ call_id: "calc2", error: "not now" });
    expect(shape(events)).not.toContain("tool/processing");
    expect(harness.fake.requests.at(-1)!.body.messages.at(-1)).toMatchObject({ role: "tool", tool_call_id: "calc2", content: expect.stringContaining("not now") });
    expect(events.at(-1)!.payload.status).toBe("completed");
  });

  test("no answer within APPROVAL_TIMEOUT_S counts as rejected", async () => {
    const quick = await startAgentHarness({ TOOLS_REQUIRE_APPROVAL: "current_time", APPROVAL_TIMEOUT_S: "0.2" });
    try {
      quick.fake.enqueue(toolCallResponse([{ id: "t", name: "current_time", arguments: {} }]), textResponse("never mind"));
      const client = await connectAs(quick.server.wsUrl, await quick.server.token({ sub: "alice" }));
      const ack = await send(client, "time?");
      const events = await collectRun(client, ack.message_id);
      expect(shape(events).slice(0, 3)).toEqual(["status/started", "tool/awaiting_approval", "tool/rejected"]);
      expect(events[2]!.payload.tool.error).toBe("approval timed out");
      client.close();
    } finally {
      await quick.stop();
    }
  });
});

describe("one run per thread, limits", () => {
  test("a send while the thread's run is active is a conflict; afterwards it is accepted", async () => {
    harness.fake.enqueue(slowAnswer());
    const ack = await send(alice, "first");
    const conflict = await alice.request("chat", { action: "send", thread_id: ack.thread_id, content: "second" });
    expect(conflict.payload.code).toBe("conflict");
    await stopOnceStreaming(alice, ack.message_id);
    harness.fake.enqueue(textResponse("now fine"));
    const next = await send(alice, "second", { thread_id: ack.thread_id });
    expect((await collectRun(alice, next.message_id)).at(-1)!.payload.message).toBe("now fine");
  });

  test("MAX_RUNS_PER_USER concurrent runs at most", async () => {
    harness.fake.enqueue(slowAnswer(), slowAnswer());
    const first = await send(alice, "one");
    const second = await send(alice, "two");
    const third = await alice.request("chat", { action: "send", content: "three" });
    expect(third.payload.code).toBe("rate_limited");
    for (const ack of [first, second]) await stopOnceStreaming(alice, ack.message_id);
  });

  test("sending to another user's thread or to an unknown one is not_found", async () => {
    harness.fake.enqueue(textResponse("hi"));
    const ack = await send(alice, "private");
    await collectRun(alice, ack.message_id);
    expect((await mallory.request("chat", { action: "send", thread_id: ack.thread_id, content: "x" })).payload.code).toBe("not_found");
    expect((await mallory.subscribe(ack.channel)).payload.code).toBe("forbidden");
    expect((await alice.request("chat", { action: "send", thread_id: "missing", content: "x" })).payload.code).toBe("not_found");
  });

  test("the automatic thread subscription counts toward MAX_SUBSCRIPTIONS", async () => {
    const small = await startAgentHarness({ MAX_SUBSCRIPTIONS: "1" });
    try {
      const client = await connectAs(small.server.wsUrl, await small.server.token({ sub: "alice" }));
      await client.subscribe("user:alice");
      const refused = await client.request("chat", { action: "send", content: "hi" });
      expect(refused.payload.code).toBe("too_many_subscriptions");
      expect(await small.server.app.storage.listThreads("alice")).toEqual([]);
      client.close();
    } finally {
      await small.stop();
    }
  });

  test("RUN_TIMEOUT_S ends a run that takes too long with an error", async () => {
    const limited = await startAgentHarness({ RUN_TIMEOUT_S: "0.3" });
    try {
      limited.fake.enqueue(textResponse("slow ".repeat(100), { chunkSize: 5, delayMs: 20 }));
      const client = await connectAs(limited.server.wsUrl, await limited.server.token({ sub: "alice" }));
      const ack = await send(client, "slow");
      const final = (await collectRun(client, ack.message_id)).at(-1)!;
      expect(final.payload).toMatchObject({ type: "error", status: "error", error_details: { kind: "run_timeout" } });
      client.close();
    } finally {
      await limited.stop();
    }
  });
});

describe("runs belong to threads, not sockets", () => {
  test("a run goes on after its client disconnects; another connection can watch it and read it back", async () => {
    harness.fake.enqueue(textResponse("finished without you", { chunkSize: 4, delayMs: 10 }));
    const leaving = await connectAs(harness.server.wsUrl, await harness.server.token({ sub: "alice" }));
    const ack = await send(leaving, "go on without me");
    leaving.close();
    await leaving.closed;
    const watcher = await connectAs(harness.server.wsUrl, await harness.server.token({ sub: "alice" }));
    expect((await watcher.subscribe(ack.channel)).payload.status).toBe("subscribed");
    await watcher.next((frame) => frame.payload.message_id === ack.message_id && frame.payload.final_message === true);
    await waitFor(() => harness.server.app.agent.activeRuns === 0, "the run to finish");
    const stored = await harness.server.app.storage.getMessage(ack.message_id);
    expect(stored).toMatchObject({ status: "completed", content: "finished without you" });
    watcher.close();
  });

  test("a watcher subscribed with since/epoch sees every delta exactly once", async () => {
    harness.fake.enqueue(textResponse("abcdefghijklmnopqrstuvwxyz".repeat(4), { chunkSize: 2, delayMs: 5 }));
    const ack = await send(alice, "alphabet");
    const subscribed = (await alice.pending((frame) => frame.channel === "subscription" && frame.payload.channel === ack.channel))[0];
    await alice.next((frame) => frame.payload.message_id === ack.message_id && frame.payload.type === "response");
    const watcher = await connectAs(harness.server.wsUrl, await harness.server.token({ sub: "alice" }));
    const epoch = subscribed?.payload.epoch;
    await watcher.subscribe(ack.channel, { since: 0, epoch });
    const events = await collectRun(watcher, ack.message_id);
    expect(events[0]!.payload.status).toBe("started");
    expect(deltas(events, "response")).toBe("abcdefghijklmnopqrstuvwxyz".repeat(4));
    await collectRun(alice, ack.message_id);
    watcher.close();
  });
});
