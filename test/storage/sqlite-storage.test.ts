// The SQLite repository: fresh migration from embedded files, threads, messages, interrupted runs.

import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { renderMigrationsModule } from "../../scripts/embed-migrations.ts";
import { SqliteStorage } from "../../src/storage/sqlite/sqlite-storage.ts";
import { ActiveRunConflictError } from "../../src/storage/storage.ts";

let dir: string;
let storage: SqliteStorage;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "agentwire-db-"));
  storage = SqliteStorage.open(join(dir, "nested", "agentwire.db"));
});
afterEach(async () => {
  await storage.close();
  rmSync(dir, { recursive: true, force: true });
});

test("the embedded migrations are exactly the drizzle/sqlite folder (run `bun run db:generate` after a schema change)", () => {
  expect(readFileSync("src/storage/sqlite/migrations.gen.ts", "utf8")).toBe(renderMigrationsModule("sqlite"));
});

test("opening twice does not re-apply migrations", async () => {
  await storage.createThread({ ownerId: "a", title: "kept" });
  await storage.close();
  storage = SqliteStorage.open(join(dir, "nested", "agentwire.db"));
  expect((await storage.listThreads("a")).map((t) => t.title)).toEqual(["kept"]);
});

describe("threads", () => {
  test("create, read, owner lookup, list newest first, delete with messages", async () => {
    const first = await storage.createThread({ ownerId: "alice", title: "first" });
    await Bun.sleep(2);
    const second = await storage.createThread({ ownerId: "alice", title: "second" });
    await storage.createThread({ ownerId: "bob" });
    expect(await storage.threadOwner(first.id)).toBe("alice");
    expect(await storage.threadOwner("missing")).toBeUndefined();
    expect((await storage.listThreads("alice")).map((t) => t.id)).toEqual([second.id, first.id]);
    await storage.insertMessage({ id: "m1", threadId: first.id, ownerId: "alice", role: "user", content: "hi", status: "completed" });
    expect(await storage.deleteThread(first.id)).toBe(true);
    expect(await storage.getMessage("m1")).toBeUndefined();
    expect(await storage.deleteThread(first.id)).toBe(false);
  });
});

describe("messages", () => {
  test("insert, update with JSON columns, list in order", async () => {
    const thread = await storage.createThread({ ownerId: "alice" });
    await storage.insertMessage({ id: "u1", threadId: thread.id, ownerId: "alice", role: "user", content: "q", status: "completed" });
    await storage.insertMessage({ id: "a1", threadId: thread.id, ownerId: "alice", role: "assistant", content: "", status: "streaming" });
    await storage.updateMessage("a1", { content: "answer", status: "completed", usage: { prompt_tokens: 3, completion_tokens: 5 }, toolCalls: [{ call_id: "c" }] });
    const listed = await storage.listMessages(thread.id);
    expect(listed.map((m) => m.id)).toEqual(["u1", "a1"]);
    expect(listed[1]).toMatchObject({ content: "answer", status: "completed", usage: { prompt_tokens: 3, completion_tokens: 5 }, toolCalls: [{ call_id: "c" }] });
  });

  test("unfinished messages become interrupted with their partial text", async () => {
    const thread = await storage.createThread({ ownerId: "alice" });
    const other = await storage.createThread({ ownerId: "alice" });
    await storage.insertMessage({ id: "s", threadId: thread.id, ownerId: "alice", role: "assistant", content: "partial", status: "streaming" });
    await storage.insertMessage({ id: "w", threadId: other.id, ownerId: "alice", role: "assistant", content: "", status: "awaiting_approval" });
    await storage.insertMessage({ id: "d", threadId: thread.id, ownerId: "alice", role: "assistant", content: "done", status: "completed" });
    expect(await storage.interruptUnfinished()).toBe(2);
    const all = [...(await storage.listMessages(thread.id)), ...(await storage.listMessages(other.id))];
    const byId = Object.fromEntries(all.map((m) => [m.id, m]));
    expect(byId.s).toMatchObject({ status: "interrupted", content: "partial" });
    expect(byId.w!.status).toBe("interrupted");
    expect(byId.d!.status).toBe("completed");
  });
});

describe("search and checkpoints", () => {
  test("full-text search finds the owner's messages only, follows content updates and deletes", async () => {
    const mine = await storage.createThread({ ownerId: "alice", title: "Trip planning" });
    const theirs = await storage.createThread({ ownerId: "bob", title: "Bob's" });
    await storage.insertMessage({ id: "m1", threadId: mine.id, ownerId: "alice", role: "user", content: "Book a train to Zürich", status: "completed" });
    await storage.insertMessage({ id: "m2", threadId: mine.id, ownerId: "alice", role: "assistant", content: "", status: "streaming" });
    await storage.insertMessage({ id: "b1", threadId: theirs.id, ownerId: "bob", role: "user", content: "train times", status: "completed" });
    await storage.updateMessage("m2", { content: "The night train leaves at 22:10" });
    const hits = await storage.searchMessages("alice", "train", 10);
    expect(hits.map((hit) => hit.messageId).sort()).toEqual(["m1", "m2"]);
    expect(hits[0]!.threadTitle).toBe("Trip planning");
    expect((await storage.searchMessages("alice", "zurich", 10)).map((hit) => hit.messageId)).toEqual(["m1"]);
    expect(await storage.searchMessages("alice", '" OR * NEAR(', 10)).toEqual([]);
    expect(await storage.searchMessages("alice", "", 10)).toEqual([]);
    await storage.deleteThread(mine.id);
    expect(await storage.searchMessages("alice", "train", 10)).toEqual([]);
  });

  test("a checkpoint saves message progress and the thread's reflected event together", async () => {
    const thread = await storage.createThread({ ownerId: "alice" });
    expect(thread.eventSeq).toBeNull();
    await storage.insertMessage({ id: "a", threadId: thread.id, ownerId: "alice", role: "assistant", content: "", status: "streaming" });
    await storage.checkpoint({ messageId: "a", patch: { content: "partial" }, threadId: thread.id, eventSeq: 7, eventEpoch: "e1" });
    expect((await storage.getMessage("a"))!.content).toBe("partial");
    expect(await storage.getThread(thread.id)).toMatchObject({ eventSeq: 7, eventEpoch: "e1" });
  });
});

describe("run leases", () => {
  test("one unfinished assistant message per thread: a second is an ActiveRunConflictError", async () => {
    const thread = await storage.createThread({ ownerId: "alice" });
    await storage.insertMessage({ id: "r1", threadId: thread.id, ownerId: "alice", role: "assistant", content: "", status: "streaming" });
    await expect(
      storage.insertMessage({ id: "r2", threadId: thread.id, ownerId: "alice", role: "assistant", content: "", status: "streaming" }),
    ).rejects.toBeInstanceOf(ActiveRunConflictError);
    await storage.updateMessage("r1", { status: "completed" });
    await storage.insertMessage({ id: "r3", threadId: thread.id, ownerId: "alice", role: "assistant", content: "", status: "streaming" });
  });

  test("renewed leases hold; expired ones are reaped once, as interrupted", async () => {
    const a = await storage.createThread({ ownerId: "alice" });
    const b = await storage.createThread({ ownerId: "alice" });
    const past = new Date(Date.now() - 1000);
    await storage.insertMessage({ id: "n1", threadId: a.id, ownerId: "alice", role: "assistant", content: "x", status: "streaming", nodeId: "node-1", leaseExpiresAt: past });
    await storage.insertMessage({ id: "n2", threadId: b.id, ownerId: "alice", role: "assistant", content: "y", status: "awaiting_approval", nodeId: "node-2", leaseExpiresAt: past });
    await storage.renewLeases("node-1", new Date(Date.now() + 60_000));
    const reaped = await storage.reapExpiredRuns(new Date());
    expect(reaped.map((message) => [message.id, message.status, message.content])).toEqual([["n2", "interrupted", "y"]]);
    expect(await storage.reapExpiredRuns(new Date())).toEqual([]);
    expect((await storage.getMessage("n1"))!.status).toBe("streaming");
  });
});
