// The SQLite repository: the storage contract, plus what only a database file has (embedded migrations, reopening).

import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { Database } from "bun:sqlite";
import { drizzle } from "drizzle-orm/bun-sqlite";
import { migrate } from "drizzle-orm/bun-sqlite/migrator";
import fc from "fast-check";
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { renderMigrationsModule } from "../../scripts/embed-migrations.ts";
import { SqliteStorage } from "../../src/storage/sqlite/sqlite-storage.ts";
import type { MessagePatch, MessageStatus } from "../../src/storage/storage.ts";
import { describeStorageContract } from "./storage.contract.ts";

describeStorageContract("sqlite", async () => {
  const dir = mkdtempSync(join(tmpdir(), "agentwire-db-"));
  const storage = SqliteStorage.open(join(dir, "nested", "agentwire.db"));
  return {
    storage,
    cleanup: async () => {
      await storage.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
});

test("the embedded migrations are exactly the drizzle/sqlite folder (run `bun run db:generate` after a schema change)", () => {
  expect(readFileSync("src/storage/sqlite/migrations.gen.ts", "utf8")).toBe(renderMigrationsModule("sqlite"));
});

describe("sqlite file", () => {
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

  test("opening twice does not re-apply migrations", async () => {
    await storage.createThread({ ownerId: "a", title: "kept" });
    await storage.close();
    storage = SqliteStorage.open(join(dir, "nested", "agentwire.db"));
    expect((await storage.listThreads("a")).map((t) => t.title)).toEqual(["kept"]);
  });
});

/**
 * Throws unless the full-text index holds exactly the messages that are not streaming, each with its
 * current text: the streaming ones are added in a transaction that is rolled back, and FTS5 compares
 * the index with the messages table (a missing, doubled or stale entry is "malformed").
 */
function expectIndexFollowsStatus(path: string): void {
  const db = new Database(path);
  try {
    db.run("BEGIN IMMEDIATE");
    try {
      db.run("INSERT INTO messages_fts(rowid, content) SELECT rowid, content FROM messages WHERE status = 'streaming'");
      db.run("INSERT INTO messages_fts(messages_fts, rank) VALUES ('integrity-check', 1)");
    } finally {
      db.run("ROLLBACK");
    }
  } finally {
    db.close();
  }
}

describe("full-text index of a database file: streaming messages stay out of it", () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), "agentwire-fts-"));
  });
  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  test("the migration takes streaming messages out of an index that held them, and search still finds them", async () => {
    // The database as migration 0004 left it: every message indexed by the old triggers.
    const folder = join(dir, "migrations");
    cpSync("drizzle/sqlite", folder, { recursive: true });
    const journal = JSON.parse(readFileSync(join(folder, "meta", "_journal.json"), "utf8")) as { entries: { tag: string }[] };
    journal.entries = journal.entries.filter((entry) => entry.tag <= "0004");
    writeFileSync(join(folder, "meta", "_journal.json"), JSON.stringify(journal));
    const path = join(dir, "agentwire.db");
    const old = new Database(path);
    migrate(drizzle({ client: old }), { migrationsFolder: folder });
    old.run("INSERT INTO threads (id, owner_id, title, created_at, updated_at) VALUES ('t1', 'alice', '', 0, 0), ('t2', 'alice', '', 0, 0)");
    old.run(`INSERT INTO messages (id, thread_id, owner_id, role, content, status, created_at, updated_at) VALUES
      ('done', 't1', 'alice', 'assistant', 'the lighthouse keeper', 'completed', 0, 0),
      ('live', 't2', 'alice', 'assistant', 'early words', 'streaming', 0, 0)`);
    old.run("UPDATE messages SET content = 'the lighthouse beam' WHERE id = 'live'");
    old.close();

    const storage = SqliteStorage.open(path);
    try {
      expectIndexFollowsStatus(path);
      expect((await storage.searchMessages("alice", "lighthouse", 10)).map((hit) => hit.messageId).sort()).toEqual(["done", "live"]);
      expect(await storage.searchMessages("alice", "early", 10)).toEqual([]);
      await storage.updateMessage("live", { status: "completed" });
      expectIndexFollowsStatus(path);
      expect((await storage.searchMessages("alice", "beam", 10)).map((hit) => hit.messageId)).toEqual(["live"]);
    } finally {
      await storage.close();
    }
  });

  const words = ["amber", "basalt", "cobalt", "dune"] as const;
  const statuses: MessageStatus[] = ["completed", "streaming", "awaiting_approval", "cancelled", "error", "interrupted"];
  const text = fc.array(fc.constantFrom(...words), { maxLength: 4 }).map((picked) => picked.join(" "));
  const patch = fc.record({ content: text, status: fc.constantFrom(...statuses) }, { requiredKeys: [] });
  const step = fc.oneof(
    fc.record({ kind: fc.constant("insert" as const), owner: fc.constantFrom("alice", "bob"), status: fc.constantFrom(...statuses), content: text }),
    fc.record({ kind: fc.constant("checkpoint" as const), target: fc.nat(), patch }),
    fc.record({ kind: fc.constant("update" as const), target: fc.nat(), patch }),
    fc.record({ kind: fc.constant("delete" as const), target: fc.nat() }),
    fc.record({ kind: fc.constant("deleteThread" as const), target: fc.nat() }),
    fc.record({ kind: fc.constant("interrupt" as const) }),
  );

  test("property: after any inserts, checkpoints, status changes and deletes, the index is exact and search finds each current text once", async () => {
    let run = 0;
    await fc.assert(
      fc.asyncProperty(fc.array(step, { minLength: 1, maxLength: 20 }), async (steps) => {
        const path = join(dir, `property-${run++}.db`);
        const storage = SqliteStorage.open(path);
        // What each message is now, in the model: one message per thread, so any status is allowed.
        const model = new Map<string, { threadId: string; owner: string; content: string; status: MessageStatus }>();
        try {
          for (const [index, s] of steps.entries()) {
            const ids = [...model.keys()];
            const target = "target" in s && ids.length > 0 ? ids[s.target % ids.length]! : undefined;
            const current = target === undefined ? undefined : model.get(target)!;
            if (s.kind === "insert") {
              const thread = await storage.createThread({ ownerId: s.owner });
              const id = `m${index}`;
              await storage.insertMessage({ id, threadId: thread.id, ownerId: s.owner, role: "assistant", content: s.content, status: s.status });
              model.set(id, { threadId: thread.id, owner: s.owner, content: s.content, status: s.status });
            } else if (s.kind === "interrupt") {
              await storage.interruptUnfinished();
              for (const message of model.values()) if (message.status === "streaming" || message.status === "awaiting_approval") message.status = "interrupted";
            } else if (target === undefined || current === undefined) {
              continue;
            } else if (s.kind === "checkpoint" || s.kind === "update") {
              const change: MessagePatch = s.patch;
              if (s.kind === "checkpoint") await storage.checkpoint({ messageId: target, patch: change, threadId: current.threadId, eventSeq: index, eventEpoch: "e" });
              else await storage.updateMessage(target, change);
              Object.assign(current, change);
            } else if (s.kind === "delete") {
              await storage.deleteMessage(target);
              model.delete(target);
            } else {
              await storage.deleteThread(current.threadId);
              model.delete(target);
            }
            expectIndexFollowsStatus(path);
            for (const owner of ["alice", "bob"]) {
              for (const word of words) {
                const found = (await storage.searchMessages(owner, word, 100)).map((hit) => hit.messageId).sort();
                const expected = [...model.entries()].filter(([, message]) => message.owner === owner && message.content.split(" ").includes(word)).map(([id]) => id).sort();
                expect(found).toEqual(expected);
              }
            }
          }
        } finally {
          await storage.close();
        }
      }),
      { numRuns: 50 },
    );
  }, 60_000);
});
