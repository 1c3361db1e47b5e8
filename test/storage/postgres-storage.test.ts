// The PostgreSQL repository: the storage contract, plus several nodes sharing one database; each test gets a database of its own.

import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { SQL } from "bun";
import { readFileSync } from "node:fs";
import { renderMigrationsModule } from "../../scripts/embed-migrations.ts";
import { embeddedMigrations } from "../../src/storage/postgres/migrations.gen.ts";
import { PostgresStorage } from "../../src/storage/postgres/postgres-storage.ts";
import { ActiveRunConflictError } from "../../src/storage/storage.ts";
import { createTestDatabase, explainSkip, testDatabaseUrl, type TestDatabase } from "../helpers/services.ts";
import { describeStorageContract } from "./storage.contract.ts";

const adminUrl = testDatabaseUrl;
explainSkip("the PostgreSQL storage tests", ["postgres"]);

/** Runs a query on the test database outside the storage, to look at what it stored. */
async function query<Row>(url: string, text: string): Promise<Row[]> {
  const client = new SQL(url, { max: 1 });
  try {
    return [...(await client.unsafe(text))] as Row[];
  } finally {
    await client.close();
  }
}

test("the embedded migrations are exactly the drizzle/postgres folder (run `bun run db:generate` after a schema change)", () => {
  expect(readFileSync("src/storage/postgres/migrations.gen.ts", "utf8")).toBe(renderMigrationsModule("postgres"));
});

test("opening an unreachable database fails instead of waiting", async () => {
  await expect(PostgresStorage.open("postgres://postgres@127.0.0.1:1/agentwire", { connectTimeoutS: 2 })).rejects.toThrow();
}, 10_000);

describe.skipIf(!adminUrl)("postgres", () => {
  describeStorageContract("contract", async () => {
    const database = await createTestDatabase();
    try {
      const storage = await PostgresStorage.open(database.url);
      return {
        storage,
        cleanup: async () => {
          await storage.close();
          await database.drop();
        },
      };
    } catch (error) {
      await database.drop();
      throw error;
    }
  });

  describe("several nodes on one database", () => {
    let database: TestDatabase;
    let opened: PostgresStorage[] = [];
    beforeEach(async () => {
      database = await createTestDatabase();
    });
    afterEach(async () => {
      await Promise.all(opened.map((storage) => storage.close()));
      opened = [];
      await database.drop();
    });

    async function openNode(): Promise<PostgresStorage> {
      const storage = await PostgresStorage.open(database.url);
      opened.push(storage);
      return storage;
    }

    test("nodes starting at once all open, and each migration is applied once", async () => {
      const [first] = await Promise.all([openNode(), openNode(), openNode()]);
      const applied = await query<{ hash: string }>(database.url, "SELECT hash FROM drizzle.__drizzle_migrations");
      expect(applied).toHaveLength(embeddedMigrations.journal.entries.length);
      await first!.createThread({ ownerId: "alice", title: "kept" });
      const reopened = await openNode();
      expect((await reopened.listThreads("alice")).map((thread) => thread.title)).toEqual(["kept"]);
      expect(await query(database.url, "SELECT hash FROM drizzle.__drizzle_migrations")).toHaveLength(applied.length);
    });

    test("two nodes reaping at once get disjoint sets that together are every expired run", async () => {
      const [a, b] = await Promise.all([openNode(), openNode()]);
      const past = new Date(Date.now() - 1000);
      const expected: string[] = [];
      for (let index = 0; index < 60; index++) {
        const thread = await a.createThread({ ownerId: "alice" });
        const id = `run-${index}`;
        expected.push(id);
        await a.insertMessage({ id, threadId: thread.id, ownerId: "alice", role: "assistant", content: "", status: "streaming", nodeId: "gone", leaseExpiresAt: past });
      }
      const now = new Date();
      const [byA, byB] = await Promise.all([a.reapExpiredRuns(now), b.reapExpiredRuns(now)]);
      const idsA = byA.map((message) => message.id);
      const idsB = byB.map((message) => message.id);
      expect(idsA.filter((id) => idsB.includes(id))).toEqual([]);
      expect([...idsA, ...idsB].sort()).toEqual(expected.sort());
      expect([...byA, ...byB].every((message) => message.status === "interrupted")).toBe(true);
      expect(await Promise.all([a.reapExpiredRuns(new Date()), b.reapExpiredRuns(new Date())])).toEqual([[], []]);
    });

    test("two nodes starting a run on one thread at once: one wins, the other gets ActiveRunConflictError", async () => {
      const [a, b] = await Promise.all([openNode(), openNode()]);
      for (let round = 0; round < 10; round++) {
        const thread = await a.createThread({ ownerId: "alice" });
        const results = await Promise.allSettled(
          [a, b].map((node, index) =>
            node.insertMessage({ id: `${thread.id}-${index}`, threadId: thread.id, ownerId: "alice", role: "assistant", content: "", status: "streaming" }),
          ),
        );
        expect(results.filter((result) => result.status === "fulfilled")).toHaveLength(1);
        const rejected = results.filter((result) => result.status === "rejected");
        expect(rejected).toHaveLength(1);
        expect(rejected[0]!.reason).toBeInstanceOf(ActiveRunConflictError);
      }
    });

    test("search takes any text: operators, quotes and control characters are words or nothing", async () => {
      const storage = await openNode();
      const thread = await storage.createThread({ ownerId: "alice", title: "t" });
      await storage.insertMessage({ id: "m", threadId: thread.id, ownerId: "alice", role: "user", content: "train to Zürich & back (maybe)", status: "completed" });
      const hostile = [
        "'", '"', "&", "|", "!", "(", ")", "()", "!!", "a & | b", "train & (zurich | !back)", "train:*", "'train':*A",
        "<->", "train <-> zurich", "\\", "%_", "'; DROP TABLE messages; --", "\u0000train\u0000", "train\u0000", "🚆 train",
        "x".repeat(10_000), "a ".repeat(5_000),
      ];
      for (const input of hostile) await storage.searchMessages("alice", input, 10);
      expect((await storage.searchMessages("alice", "train & (zurich | !back)", 10)).map((hit) => hit.messageId)).toEqual(["m"]);
      expect((await storage.searchMessages("alice", "'; DROP TABLE messages; --", 10))).toEqual([]);
      expect(await storage.getMessage("m")).toBeDefined();
    });

    test("JSON columns hold JSON documents, not JSON text in a string", async () => {
      const storage = await openNode();
      const thread = await storage.createThread({ ownerId: "alice" });
      await storage.insertMessage({ id: "m", threadId: thread.id, ownerId: "alice", role: "assistant", content: "", status: "completed", usage: { total_tokens: 3 }, toolCalls: [{ call_id: "c" }] });
      await storage.updateMessage("m", { error: { message: "x" }, sources: "plain" });
      const [types] = await query<Record<string, string>>(
        database.url,
        "SELECT jsonb_typeof(usage) AS usage, jsonb_typeof(tool_calls) AS tool_calls, jsonb_typeof(error) AS error, jsonb_typeof(sources) AS sources, usage->>'total_tokens' AS total FROM messages",
      );
      expect(types).toEqual({ usage: "object", tool_calls: "array", error: "object", sources: "string", total: "3" });
    });

    test("a database that goes away surfaces as an error, not a wait", async () => {
      const storage = await openNode();
      await storage.ping();
      await database.drop();
      await expect(storage.ping()).rejects.toThrow();
      await expect(storage.listThreads("alice")).rejects.toThrow();
    }, 15_000);
  });
});
