// What storage failures become, shown with the errors the real drivers throw: a database out of reach is
// `unavailable`, any other failure a StorageError naming the driver's code and nothing of the query.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { Database } from "bun:sqlite";
import { SQL } from "bun";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ErrorCode, ProtocolError } from "../../src/protocol/index.ts";
import { StorageError, storageFailure } from "../../src/storage/storage-errors.ts";
import { ActiveRunConflictError, RunLimitError } from "../../src/storage/storage.ts";
import { createTestDatabase, explainSkip, freePort, testDatabaseUrl, type TestDatabase } from "../helpers/services.ts";

async function thrownBy(action: () => unknown): Promise<unknown> {
  try {
    await action();
  } catch (error) {
    return error;
  }
  throw new Error("expected a failure");
}

function expectUnavailable(error: unknown, original: unknown): void {
  const mapped = storageFailure(original);
  expect(mapped).toBeInstanceOf(ProtocolError);
  expect((mapped as ProtocolError).code).toBe(ErrorCode.unavailable);
  expect(mapped.cause).toBe(error);
}

test("our own errors pass as they are", () => {
  for (const error of [new ActiveRunConflictError("t"), new RunLimitError("u", 2), new ProtocolError(ErrorCode.invalidMessage, "no"), new StorageError("X")]) {
    expect(storageFailure(error)).toBe(error);
  }
});

test("an error without a driver code is a StorageError of code unknown, with it as the cause", () => {
  const error = new TypeError("boom");
  const mapped = storageFailure(error);
  expect(mapped).toBeInstanceOf(StorageError);
  expect(mapped).toMatchObject({ code: "unknown", message: "the database failed the query (unknown)" });
  expect(mapped.cause).toBe(error);
});

describe("sqlite", () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "agentwire-errors-"));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  test("a database locked by another connection (SQLITE_BUSY) is unavailable", async () => {
    const path = join(dir, "locked.db");
    const holder = new Database(path, { create: true });
    holder.run("PRAGMA journal_mode = WAL");
    holder.run("CREATE TABLE t (x TEXT)");
    const waiter = new Database(path);
    waiter.run("PRAGMA busy_timeout = 0");
    holder.run("BEGIN IMMEDIATE");
    const error = await thrownBy(() => waiter.run("INSERT INTO t VALUES ('x')"));
    expect((error as { code: string }).code).toStartWith("SQLITE_BUSY");
    expectUnavailable(error, error);
    holder.run("ROLLBACK");
    waiter.close();
    holder.close();
  });

  test("a constraint violation is a StorageError with SQLite's code", async () => {
    const database = new Database(":memory:");
    database.run("CREATE TABLE t (x TEXT PRIMARY KEY)");
    database.run("INSERT INTO t VALUES ('a')");
    const error = await thrownBy(() => database.query("INSERT INTO t VALUES (?)").run("a"));
    expect(storageFailure(error)).toMatchObject({ name: "StorageError", code: "SQLITE_CONSTRAINT_PRIMARYKEY" });
  });
});

describe("postgres, not running", () => {
  test("a refused connection (ERR_POSTGRES_CONNECTION_REFUSED) is unavailable", async () => {
    const client = new SQL({ url: `postgres://postgres@127.0.0.1:${freePort()}/postgres`, max: 1, connectionTimeout: 2 });
    const error = await thrownBy(() => client`SELECT 1`);
    expect((error as { code: string }).code).toBe("ERR_POSTGRES_CONNECTION_REFUSED");
    expectUnavailable(error, error);
    await client.close();
  });

  test("drizzle's wrapper around a lost connection is unavailable too, the codes looked up along the causes", () => {
    const lost = Object.assign(new Error("Connection closed"), { code: "ERR_POSTGRES_CONNECTION_CLOSED" });
    const wrapped = new Error("Failed query: select 1\nparams: ", { cause: lost });
    expectUnavailable(wrapped, wrapped);
  });
});

describe.skipIf(explainSkip("the PostgreSQL storage error tests", ["postgres"]))("postgres", () => {
  let database: TestDatabase;
  let client: SQL;
  beforeAll(async () => {
    database = await createTestDatabase(testDatabaseUrl);
    client = new SQL({ url: database.url, max: 2 });
  });
  afterAll(async () => {
    await client.close();
    await database.drop();
  });

  test("a session ended by the administrator (SQLSTATE 57P01) is unavailable", async () => {
    const reserved = await client.reserve();
    const [{ pid }] = await reserved`SELECT pg_backend_pid() AS pid`;
    const admin = new SQL({ url: database.url, max: 1 });
    await admin`SELECT pg_terminate_backend(${pid})`;
    await admin.close();
    const error = await thrownBy(() => reserved`SELECT 1`);
    reserved.release();
    // Bun reports it as the server's 57P01 or as the connection it closed, depending on which it reads first.
    const codes = error as { code?: string; errno?: string };
    expect(codes.errno === "57P01" || codes.code === "ERR_POSTGRES_CONNECTION_CLOSED").toBe(true);
    expectUnavailable(error, error);
  });

  test("a query the server refuses is a StorageError with the SQLSTATE and nothing of the parameters", async () => {
    const error = await thrownBy(() => client`SELECT ${"private words"}::integer`);
    expect(String((error as Error).message)).toContain("private words");
    const mapped = storageFailure(error);
    expect(mapped).toMatchObject({ name: "StorageError", code: "22P02", message: "the database failed the query (22P02)" });
  });
});
