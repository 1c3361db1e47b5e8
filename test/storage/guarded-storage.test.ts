// The guard every use of storage goes through, on both dialects alike: input with NUL refused, generated
// text with NUL stored as U+FFFD, driver failures named by code only, our own errors through as they are.

import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ProtocolError } from "../../src/protocol/index.ts";
import { guardStorage, storableText } from "../../src/storage/guarded-storage.ts";
import { PostgresStorage } from "../../src/storage/postgres/postgres-storage.ts";
import { SqliteStorage } from "../../src/storage/sqlite/sqlite-storage.ts";
import { StorageError } from "../../src/storage/storage-errors.ts";
import { ActiveRunConflictError, type Storage } from "../../src/storage/storage.ts";
import { createTestDatabase, explainSkip } from "../helpers/services.ts";

test("storableText replaces NUL in strings, keys and nested values, and keeps values without it as they are", () => {
  expect(storableText("a\u0000b\u0000")).toBe("a\uFFFDb\uFFFD");
  expect(storableText<unknown>({ "k\u0000": ["x\u0000", 1, null, { deep: "\u0000" }], n: 2 })).toEqual({ "k\uFFFD": ["x\uFFFD", 1, null, { deep: "\uFFFD" }], n: 2 });
  const clean = { content: "fine", list: ["a"], when: new Date(0) };
  expect(storableText(clean)).toBe(clean);
});

const dialects: { name: string; skip: boolean; open(): Promise<{ storage: Storage; cleanup(): Promise<void> }> }[] = [
  {
    name: "sqlite",
    skip: false,
    async open() {
      const dir = mkdtempSync(join(tmpdir(), "agentwire-guard-"));
      const storage = SqliteStorage.open(join(dir, "agentwire.db"));
      return { storage, cleanup: async () => (await storage.close(), rmSync(dir, { recursive: true, force: true })) };
    },
  },
  {
    name: "postgres",
    skip: explainSkip("the guarded PostgreSQL storage tests", ["postgres"]),
    async open() {
      const database = await createTestDatabase();
      const storage = await PostgresStorage.open(database.url);
      return { storage, cleanup: async () => (await storage.close(), await database.drop()) };
    },
  },
];

for (const dialect of dialects) {
  describe.skipIf(dialect.skip)(dialect.name, () => {
    let storage: Storage;
    let cleanup: () => Promise<void>;
    beforeEach(async () => {
      const opened = await dialect.open();
      storage = guardStorage(opened.storage);
      cleanup = opened.cleanup;
    });
    afterEach(() => cleanup());

    test("wrapping twice is the same guard, and the dialect shows through", () => {
      expect(guardStorage(storage)).toBe(storage);
      expect(storage.dialect).toBe(dialect.name as Storage["dialect"]);
    });

    test("a title, a user's message or an id with NUL is refused as invalid_message, and nothing is stored", async () => {
      await expect(storage.createThread({ ownerId: "alice", title: "a\u0000b" })).rejects.toMatchObject({ code: "invalid_message", details: ["/title"] });
      const thread = await storage.createThread({ ownerId: "alice", title: "t" });
      await expect(storage.updateThread(thread.id, { title: "\u0000" })).rejects.toBeInstanceOf(ProtocolError);
      await expect(
        storage.insertMessage({ id: "u", threadId: thread.id, ownerId: "alice", role: "user", content: "hi\u0000", status: "completed" }),
      ).rejects.toMatchObject({ code: "invalid_message", details: ["/content"] });
      await expect(storage.getThread("x\u0000")).rejects.toMatchObject({ code: "invalid_message" });
      await expect(storage.threadSnapshot("x\u0000")).rejects.toMatchObject({ code: "invalid_message" });
      expect(await storage.listThreads("alice")).toHaveLength(1);
      expect(await storage.listMessages(thread.id)).toEqual([]);
      // Search takes any text: the words are picked out of it.
      expect(await storage.searchMessages("alice", "\u0000word\u0000", 5)).toEqual([]);
    });

    test("generated text with NUL is stored with U+FFFD: insert, update and checkpoint, JSON columns included", async () => {
      const thread = await storage.createThread({ ownerId: "alice", title: "t" });
      await storage.insertMessage({ id: "a", threadId: thread.id, ownerId: "alice", role: "assistant", content: "x\u0000", status: "streaming", reasoning: "r\u0000" });
      expect(await storage.getMessage("a")).toMatchObject({ content: "x\uFFFD", reasoning: "r\uFFFD" });
      await storage.updateMessage("a", { content: "y\u0000", toolCalls: [{ call_id: "c", arguments: { "e\u0000": "1\u0000" }, result: "\u0000" }], error: { message: "e\u0000" } });
      expect(await storage.getMessage("a")).toMatchObject({
        content: "y\uFFFD",
        toolCalls: [{ call_id: "c", arguments: { "e\uFFFD": "1\uFFFD" }, result: "\uFFFD" }],
        error: { message: "e\uFFFD" },
      });
      await storage.checkpoint({ messageId: "a", threadId: thread.id, eventSeq: 3, eventEpoch: "e", patch: { content: "z\u0000", status: "completed", sources: [{ title: "\u0000" }] } });
      const snapshot = await storage.threadSnapshot(thread.id);
      expect(snapshot!.thread.eventSeq).toBe(3);
      expect(snapshot!.messages[0]).toMatchObject({ content: "z\uFFFD", status: "completed", sources: [{ title: "\uFFFD" }] });
    });

    test("a failing query is a StorageError naming the driver's code, not the parameters; ActiveRunConflictError passes", async () => {
      const thread = await storage.createThread({ ownerId: "alice", title: "t" });
      const failure = await storage.createThread({ id: thread.id, ownerId: "alice", title: "private words" }).catch((error: unknown) => error);
      expect(failure).toBeInstanceOf(StorageError);
      expect((failure as StorageError).code).toBe(dialect.name === "postgres" ? "23505" : "SQLITE_CONSTRAINT_PRIMARYKEY");
      expect((failure as Error).message).not.toContain("private words");
      const streaming = { threadId: thread.id, ownerId: "alice", role: "assistant" as const, content: "", status: "streaming" as const };
      await storage.insertMessage({ id: "one", ...streaming });
      await expect(storage.insertMessage({ id: "two", ...streaming })).rejects.toBeInstanceOf(ActiveRunConflictError);
    });
  });
}
