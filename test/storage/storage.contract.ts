// The behaviour every Storage implementation shares, declared once and run against each dialect.

import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { ActiveRunConflictError, RunLimitError, type NewMessage, type NewRun, type Storage } from "../../src/storage/storage.ts";

export interface OpenedStorage {
  storage: Storage;
  /** Closes the storage and removes everything it created. */
  cleanup(): Promise<void>;
}

/** Declares the contract tests; each test gets a fresh, empty storage from `open`. */
export function describeStorageContract(name: string, open: () => Promise<OpenedStorage>): void {
  describe(name, () => {
    let opened: OpenedStorage;
    let storage: Storage;
    beforeEach(async () => {
      opened = await open();
      storage = opened.storage;
    });
    afterEach(async () => {
      await opened.cleanup();
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

      test("members: roles, shared threads listed with the role, role changes keep added_at, removal, gone with the thread", async () => {
        const shared = await storage.createThread({ ownerId: "alice", title: "shared" });
        await Bun.sleep(2);
        const own = await storage.createThread({ ownerId: "bob", title: "own" });
        const added = await storage.putMember(shared.id, "bob", "editor");
        expect(added).toMatchObject({ threadId: shared.id, userId: "bob", role: "editor" });
        await storage.putMember(shared.id, "carol", "viewer");
        expect(await storage.threadRole(shared.id, "alice")).toBe("owner");
        expect(await storage.threadRole(shared.id, "bob")).toBe("editor");
        expect(await storage.threadRole(shared.id, "carol")).toBe("viewer");
        expect(await storage.threadRole(shared.id, "dave")).toBeUndefined();
        expect(await storage.threadRole("missing", "alice")).toBeUndefined();
        expect((await storage.listAccessibleThreads("bob")).map((thread) => `${thread.title}:${thread.role}`)).toEqual(["own:owner", "shared:editor"]);
        const lowered = await storage.putMember(shared.id, "bob", "viewer");
        expect(lowered.role).toBe("viewer");
        expect(lowered.addedAt.getTime()).toBe(added.addedAt.getTime());
        expect((await storage.listMembers(shared.id)).map((member) => `${member.userId}:${member.role}`)).toEqual(["bob:viewer", "carol:viewer"]);
        expect(await storage.deleteMember(shared.id, "carol")).toBe(true);
        expect(await storage.deleteMember(shared.id, "carol")).toBe(false);
        expect(await storage.threadRole(shared.id, "carol")).toBeUndefined();
        await storage.deleteThread(shared.id);
        expect(await storage.listMembers(shared.id)).toEqual([]);
        expect((await storage.listAccessibleThreads("bob")).map((thread) => thread.id)).toEqual([own.id]);
      });

      test("a renamed or touched thread moves to the top of the list", async () => {
        const first = await storage.createThread({ ownerId: "alice" });
        await Bun.sleep(2);
        const second = await storage.createThread({ ownerId: "alice" });
        await Bun.sleep(2);
        await storage.updateThread(first.id, { title: "renamed" });
        expect((await storage.listThreads("alice")).map((t) => t.id)).toEqual([first.id, second.id]);
        expect((await storage.getThread(first.id))!.title).toBe("renamed");
        await Bun.sleep(2);
        await storage.updateThread(second.id, { touch: true });
        expect((await storage.listThreads("alice", 1)).map((t) => t.id)).toEqual([second.id]);
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

      test("inserted returns what a read returns, JSON values of every kind included", async () => {
        const thread = await storage.createThread({ ownerId: "alice" });
        const inserted = await storage.insertMessage({
          id: "j",
          threadId: thread.id,
          ownerId: "alice",
          role: "assistant",
          content: "x",
          status: "error",
          reasoning: "because",
          toolCalls: [{ name: "calculator", arguments: '{"expression":"1+1"}' }],
          sources: [],
          usage: 42,
          error: "a plain string",
          nodeId: "node-1",
          leaseExpiresAt: new Date(Date.now() + 60_000),
        });
        const read = await storage.getMessage("j");
        expect(read).toEqual(inserted);
        expect(read).toMatchObject({ toolCalls: [{ name: "calculator", arguments: '{"expression":"1+1"}' }], sources: [], usage: 42, error: "a plain string" });
        expect(read!.createdAt).toBeInstanceOf(Date);
      });

      test("messages written back to back list in the order written", async () => {
        const thread = await storage.createThread({ ownerId: "alice" });
        const ids = Array.from({ length: 30 }, (_, index) => `m${String(index).padStart(2, "0")}`).reverse();
        for (const id of ids) await storage.insertMessage({ id, threadId: thread.id, ownerId: "alice", role: "user", content: id, status: "completed" });
        expect((await storage.listMessages(thread.id)).map((m) => m.id)).toEqual(ids);
        expect((await storage.threadSnapshot(thread.id))!.messages.map((m) => m.id)).toEqual(ids);
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

      test("search requires every word, splits at punctuation, ranks and limits, and cuts a snippet", async () => {
        const thread = await storage.createThread({ ownerId: "alice", title: "code" });
        const filler = Array.from({ length: 60 }, (_, index) => `word${index}`).join(" ");
        await storage.insertMessage({ id: "path", threadId: thread.id, ownerId: "alice", role: "user", content: "Open src/app.ts and the README", status: "completed" });
        await storage.insertMessage({ id: "long", threadId: thread.id, ownerId: "alice", role: "assistant", content: `${filler} the deploy guide ${filler}`, status: "completed" });
        await storage.insertMessage({ id: "many", threadId: thread.id, ownerId: "alice", role: "user", content: "deploy deploy deploy the guide", status: "completed" });
        expect((await storage.searchMessages("alice", "app", 10)).map((hit) => hit.messageId)).toEqual(["path"]);
        expect((await storage.searchMessages("alice", "README app", 10)).map((hit) => hit.messageId)).toEqual(["path"]);
        expect(await storage.searchMessages("alice", "readme missing", 10)).toEqual([]);
        const deploy = await storage.searchMessages("alice", "deploy", 10);
        expect(deploy.map((hit) => hit.messageId)).toEqual(["many", "long"]);
        expect(deploy[1]!.snippet).toContain("deploy");
        expect(deploy[1]!.snippet.startsWith("…")).toBe(true);
        expect(deploy[1]!.snippet.length).toBeLessThan(200);
        expect(deploy[1]).toMatchObject({ threadId: thread.id, threadTitle: "code", role: "assistant" });
        expect(deploy[1]!.createdAt).toBeInstanceOf(Date);
        expect(await storage.searchMessages("alice", "deploy", 1)).toHaveLength(1);
      });

      test("a run checkpointed many times is found once, by its latest text only, while streaming and once finished", async () => {
        const thread = await storage.createThread({ ownerId: "alice", title: "Story" });
        await storage.insertMessage({ id: "run", threadId: thread.id, ownerId: "alice", role: "assistant", content: "", status: "streaming" });
        const ids = async (query: string) => (await storage.searchMessages("alice", query, 10)).map((hit) => hit.messageId);
        let text = "";
        for (const [index, word] of ["once", "upon", "a", "time", "there", "was", "a", "lighthouse"].entries()) {
          // The first word goes away later: it must not be found once the text no longer has it.
          text = index === 4 ? text.replace("once ", "") : text;
          text += `${word} `;
          await storage.checkpoint({ messageId: "run", patch: { content: text }, threadId: thread.id, eventSeq: index, eventEpoch: "e1" });
          expect(await ids(word)).toEqual(["run"]);
        }
        expect(await ids("once")).toEqual([]);
        await storage.checkpoint({ messageId: "run", patch: { content: `${text}keeper`, status: "completed" }, threadId: thread.id, eventSeq: 9, eventEpoch: "e1" });
        expect(await ids("lighthouse keeper")).toEqual(["run"]);
        expect(await ids("upon")).toEqual(["run"]);
        expect(await ids("once")).toEqual([]);
        await storage.updateMessage("run", { content: "rewritten" });
        expect(await ids("lighthouse")).toEqual([]);
        expect(await ids("rewritten")).toEqual(["run"]);
      });

      test("a checkpoint saves message progress and the thread's reflected event together", async () => {
        const thread = await storage.createThread({ ownerId: "alice" });
        expect(thread.eventSeq).toBeNull();
        await storage.insertMessage({ id: "a", threadId: thread.id, ownerId: "alice", role: "assistant", content: "", status: "streaming" });
        await storage.checkpoint({ messageId: "a", patch: { content: "partial" }, threadId: thread.id, eventSeq: 7, eventEpoch: "e1" });
        expect((await storage.getMessage("a"))!.content).toBe("partial");
        expect(await storage.getThread(thread.id)).toMatchObject({ eventSeq: 7, eventEpoch: "e1" });
        const snapshot = await storage.threadSnapshot(thread.id);
        expect(snapshot!.thread).toMatchObject({ id: thread.id, eventSeq: 7, eventEpoch: "e1" });
        expect(snapshot!.messages.map((m) => [m.id, m.content])).toEqual([["a", "partial"]]);
        expect(await storage.threadSnapshot("missing")).toBeUndefined();
      });

      test("checkpoints of many runs at once are all saved, and a bad one fails alone", async () => {
        const threads = await Promise.all([1, 2, 3].map(() => storage.createThread({ ownerId: "alice" })));
        for (const [index, thread] of threads.entries()) {
          await storage.insertMessage({ id: `c${index}`, threadId: thread.id, ownerId: "alice", role: "assistant", content: "", status: "streaming" });
        }
        const results = await Promise.allSettled(
          threads.map((thread, index) =>
            storage.checkpoint({
              messageId: `c${index}`,
              // The second breaks a NOT NULL column, as a bug or a corrupt patch would.
              patch: { content: index === 1 ? (null as unknown as string) : `text ${index}` },
              threadId: thread.id,
              eventSeq: 10 + index,
              eventEpoch: "e1",
            }),
          ),
        );
        expect(results.map((result) => result.status)).toEqual(["fulfilled", "rejected", "fulfilled"]);
        expect((await storage.getMessage("c0"))!.content).toBe("text 0");
        expect((await storage.getMessage("c2"))!.content).toBe("text 2");
        expect(await storage.getThread(threads[2]!.id)).toMatchObject({ eventSeq: 12 });
        expect(await storage.getThread(threads[1]!.id)).toMatchObject({ eventSeq: null });
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

      test("a duplicate message id is not mistaken for an active-run conflict", async () => {
        const thread = await storage.createThread({ ownerId: "alice" });
        await storage.insertMessage({ id: "same", threadId: thread.id, ownerId: "alice", role: "user", content: "", status: "completed" });
        const duplicate = storage.insertMessage({ id: "same", threadId: thread.id, ownerId: "alice", role: "user", content: "", status: "completed" });
        await expect(duplicate).rejects.toThrow();
        await expect(duplicate).rejects.not.toBeInstanceOf(ActiveRunConflictError);
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

    test("ping answers while the storage is open, and fails once it is closed", async () => {
      await expect(storage.ping()).resolves.toBeUndefined();
      await storage.close();
      await expect(storage.ping()).rejects.toThrow();
    });

    describe("runs per user", () => {
      const inAMinute = () => new Date(Date.now() + 60_000);
      /** A run's start on `threadId`: the user's message and the run's unfinished assistant message. */
      const newRun = (id: string, threadId: string, ownerId = "alice", thread?: NewRun["thread"]): NewRun => ({
        thread,
        userMessage: { id: `${id}-question`, threadId, ownerId, role: "user", content: `question ${id}`, status: "completed" },
        runMessage: { id, threadId, ownerId, role: "assistant", content: "", status: "streaming", nodeId: "node-1", leaseExpiresAt: inAMinute() },
      });
      const limits = (maxActiveRunsPerUser: number, now = new Date()) => ({ maxActiveRunsPerUser, now });
      const assistant = (id: string, threadId: string, fields: Partial<NewMessage>): NewMessage => ({ id, threadId, ownerId: "alice", role: "assistant", content: "", status: "streaming", ...fields });

      test("insertRun stores a new thread, then the user's message, then the run", async () => {
        await storage.insertRun(newRun("r1", "t1", "alice", { id: "t1", ownerId: "alice", title: "first question" }), limits(2));
        expect(await storage.getThread("t1")).toMatchObject({ id: "t1", ownerId: "alice", title: "first question", eventSeq: null });
        const messages = await storage.listMessages("t1");
        expect(messages.map((message) => [message.id, message.role, message.status])).toEqual([
          ["r1-question", "user", "completed"],
          ["r1", "assistant", "streaming"],
        ]);
        expect(messages[1]).toMatchObject({ nodeId: "node-1", leaseExpiresAt: expect.any(Date) });
        const existing = await storage.createThread({ ownerId: "alice" });
        await storage.insertRun(newRun("r2", existing.id), limits(2));
        expect((await storage.listMessages(existing.id)).map((message) => message.id)).toEqual(["r2-question", "r2"]);
      });

      test("past the owner's limit is a RunLimitError and stores nothing; other owners are not counted", async () => {
        for (const id of ["a", "b"]) await storage.insertRun(newRun(id, id, "alice", { id, ownerId: "alice", title: "" }), limits(2));
        const refused = storage.insertRun(newRun("c", "c", "alice", { id: "c", ownerId: "alice", title: "" }), limits(2));
        await expect(refused).rejects.toBeInstanceOf(RunLimitError);
        await expect(refused).rejects.toMatchObject({ ownerId: "alice", limit: 2 });
        expect(await storage.getThread("c")).toBeUndefined();
        expect(await storage.getMessage("c-question")).toBeUndefined();
        await storage.insertRun(newRun("bob-1", "bob-1", "bob", { id: "bob-1", ownerId: "bob", title: "" }), limits(2));
        await storage.updateMessage("a", { status: "completed" });
        await storage.insertRun(newRun("c", "c", "alice", { id: "c", ownerId: "alice", title: "" }), limits(2));
      });

      test("finished runs and runs whose lease expired do not count; one without a lease does", async () => {
        const now = new Date();
        const threads = await Promise.all(Array.from({ length: 6 }, () => storage.createThread({ ownerId: "alice" })));
        const [expired, endsLater, finished, cancelled, interrupted, unleased] = threads.map((thread) => thread.id) as [string, string, string, string, string, string];
        await storage.insertMessage(assistant("expired", expired, { nodeId: "gone", leaseExpiresAt: new Date(now.getTime() - 1) }));
        await storage.insertMessage(assistant("ends-later", endsLater, { status: "awaiting_approval", nodeId: "node-2", leaseExpiresAt: new Date(now.getTime() + 1000) }));
        await storage.insertMessage(assistant("finished", finished, { status: "completed", leaseExpiresAt: inAMinute() }));
        await storage.insertMessage(assistant("cancelled", cancelled, { status: "cancelled", leaseExpiresAt: inAMinute() }));
        await storage.insertMessage(assistant("interrupted", interrupted, { status: "interrupted", leaseExpiresAt: inAMinute() }));
        // Only ends-later counts: a limit of 2 leaves room for one more.
        const fresh = await storage.createThread({ ownerId: "alice" });
        await storage.insertRun(newRun("one-more", fresh.id), limits(2, now));
        const full = await storage.createThread({ ownerId: "alice" });
        await expect(storage.insertRun(newRun("refused", full.id), limits(2, now))).rejects.toBeInstanceOf(RunLimitError);
        // Once ends-later's lease is past too, it stops counting, reaped or not.
        await storage.insertRun(newRun("after-expiry", full.id), limits(2, new Date(now.getTime() + 2000)));
        // A run with no lease is never reaped, so it counts for as long as it is unfinished.
        await storage.insertMessage(assistant("unleased", unleased, {}));
        const last = await storage.createThread({ ownerId: "alice" });
        await expect(storage.insertRun(newRun("refused-again", last.id), limits(3, new Date(now.getTime() + 2000)))).rejects.toBeInstanceOf(RunLimitError);
      });

      test("a thread with an unfinished message is an ActiveRunConflictError, even at the limit, and stores nothing", async () => {
        const thread = await storage.createThread({ ownerId: "alice" });
        await storage.insertRun(newRun("first", thread.id), limits(1));
        for (const limit of [1, 5]) {
          await expect(storage.insertRun(newRun(`second-${limit}`, thread.id), limits(limit))).rejects.toBeInstanceOf(ActiveRunConflictError);
        }
        expect((await storage.listMessages(thread.id)).map((message) => message.id)).toEqual(["first-question", "first"]);
      });

      test("runs started at once never pass the limit together", async () => {
        const threads = await Promise.all(Array.from({ length: 8 }, () => storage.createThread({ ownerId: "alice" })));
        const results = await Promise.allSettled(threads.map((thread) => storage.insertRun(newRun(`race-${thread.id}`, thread.id), limits(3))));
        expect(results.filter((result) => result.status === "fulfilled")).toHaveLength(3);
        for (const result of results) if (result.status === "rejected") expect(result.reason).toBeInstanceOf(RunLimitError);
      });

      test("runs and checkpoints asked for at once each get their own answer, and a refused run stores nothing", async () => {
        const busy = await storage.createThread({ ownerId: "alice" });
        await storage.insertRun(newRun("running", busy.id), limits(5));
        const fresh = (id: string, ownerId: string, limit: number) => storage.insertRun(newRun(id, id, ownerId, { id, ownerId, title: "" }), limits(limit));
        const asked = {
          a1: fresh("a1", "alice", 3),
          checkpoint: storage.checkpoint({ messageId: "running", patch: { content: "progress" }, threadId: busy.id, eventSeq: 1, eventEpoch: "e1" }),
          conflict: storage.insertRun(newRun("conflict", busy.id), limits(5)),
          b1: fresh("b1", "bob", 1),
          a2: fresh("a2", "alice", 3),
          a3: fresh("a3", "alice", 3),
          b2: fresh("b2", "bob", 1),
        };
        const results = await Promise.allSettled(Object.values(asked));
        const outcome = Object.fromEntries(Object.keys(asked).map((name, index) => [name, results[index]!.status === "fulfilled" ? "ok" : (results[index] as PromiseRejectedResult).reason.constructor.name]));
        expect([outcome.checkpoint, outcome.conflict]).toEqual(["ok", "ActiveRunConflictError"]);
        expect((await storage.getMessage("running"))!.content).toBe("progress");
        expect(await storage.getMessage("conflict-question")).toBeUndefined();
        // Alice has two slots left and bob one; which of their runs is refused is the engine's choice.
        expect([outcome.a1, outcome.a2, outcome.a3].sort()).toEqual(["RunLimitError", "ok", "ok"]);
        expect([outcome.b1, outcome.b2].sort()).toEqual(["RunLimitError", "ok"]);
        for (const id of ["a1", "a2", "a3", "b1", "b2"]) {
          expect((await storage.listMessages(id)).map((message) => message.id)).toEqual(outcome[id] === "ok" ? [`${id}-question`, id] : []);
          if (outcome[id] !== "ok") expect(await storage.getThread(id)).toBeUndefined();
        }
        expect((await storage.listMessages(busy.id)).map((message) => message.id)).toEqual(["running-question", "running"]);
      });
    });

    describe("regenerating an answer", () => {
      test("deleteMessage removes one message, from the list and from search, and is false for an unknown id", async () => {
        const thread = await storage.createThread({ ownerId: "alice" });
        await storage.insertMessage({ id: "u1", threadId: thread.id, ownerId: "alice", role: "user", content: "question", status: "completed" });
        await storage.insertMessage({ id: "a1", threadId: thread.id, ownerId: "alice", role: "assistant", content: "quetzalcoatl answer", status: "completed" });
        expect((await storage.searchMessages("alice", "quetzalcoatl", 10)).map((hit) => hit.messageId)).toEqual(["a1"]);
        expect(await storage.deleteMessage("a1")).toBe(true);
        expect(await storage.deleteMessage("a1")).toBe(false);
        expect(await storage.deleteMessage("missing")).toBe(false);
        expect(await storage.getMessage("a1")).toBeUndefined();
        expect((await storage.listMessages(thread.id)).map((message) => message.id)).toEqual(["u1"]);
        expect(await storage.searchMessages("alice", "quetzalcoatl", 10)).toEqual([]);
        expect(await storage.getThread(thread.id)).toBeDefined();
      });

      test("insertRun without a user message stores only the run, under the same rules", async () => {
        const thread = await storage.createThread({ ownerId: "alice" });
        await storage.insertMessage({ id: "u1", threadId: thread.id, ownerId: "alice", role: "user", content: "question", status: "completed" });
        const run = (id: string, threadId: string) => ({
          runMessage: { id, threadId, ownerId: "alice", role: "assistant" as const, content: "", status: "streaming" as const, nodeId: "node-1", leaseExpiresAt: new Date(Date.now() + 60_000) },
        });
        await storage.insertRun(run("again", thread.id), { maxActiveRunsPerUser: 2, now: new Date() });
        expect((await storage.listMessages(thread.id)).map((message) => [message.id, message.role, message.status])).toEqual([
          ["u1", "user", "completed"],
          ["again", "assistant", "streaming"],
        ]);
        await expect(storage.insertRun(run("twice", thread.id), { maxActiveRunsPerUser: 2, now: new Date() })).rejects.toBeInstanceOf(ActiveRunConflictError);
        const other = await storage.createThread({ ownerId: "alice" });
        await expect(storage.insertRun(run("over", other.id), { maxActiveRunsPerUser: 1, now: new Date() })).rejects.toBeInstanceOf(RunLimitError);
        expect(await storage.listMessages(other.id)).toEqual([]);
      });
    });
  });
}
