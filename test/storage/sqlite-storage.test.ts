// The SQLite repository: the storage contract, plus what only a database file has (embedded migrations, reopening).

import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { renderMigrationsModule } from "../../scripts/embed-migrations.ts";
import { SqliteStorage } from "../../src/storage/sqlite/sqlite-storage.ts";
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
