// The log never carries a query's parameters: a query failing on user text leaves no trace of that text,
// while the error's name, codes, SQL and stack frames stay for whoever reads the log.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { Database } from "bun:sqlite";
import { SQL } from "bun";
import { join } from "node:path";
import { createLogger, redactQueryParameters } from "../../src/observability/log.ts";
import { createTestDatabase, explainSkip, type TestDatabase } from "../helpers/services.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";

const SECRET = "private words of the user";

function logged(error: unknown): Record<string, any> {
  const lines: string[] = [];
  createLogger("debug", (line) => lines.push(line)).error("failed", { error });
  return JSON.parse(lines[0]!).error;
}

test("drizzle's params and PostgreSQL's quoted values are redacted, in the message, the stack and every cause", () => {
  const driver = Object.assign(new Error(`invalid input syntax for type integer: "${SECRET}"`), { name: "PostgresError", code: "ERR_POSTGRES_SERVER_ERROR", errno: "22P02" });
  const drizzle = new Error(`Failed query: insert into "threads" ("title") values ($1)\nparams: ${SECRET}`, { cause: driver });
  const top = new Error("the database failed the query (22P02)", { cause: drizzle });
  const error = logged(top);
  expect(JSON.stringify(error)).not.toContain("private");
  expect(error.message).toBe("the database failed the query (22P02)");
  expect(error.stack).toStartWith("Error: the database failed the query (22P02)\n    at ");
  expect(error.cause.message).toBe('Failed query: insert into "threads" ("title") values ($1)\nparams: [redacted]');
  expect(error.cause.cause).toMatchObject({ name: "PostgresError", message: 'invalid input syntax for type integer: "[redacted]"', code: "ERR_POSTGRES_SERVER_ERROR", errno: "22P02" });
});

test("messages without parameters are kept as they are", () => {
  for (const message of ['duplicate key value violates unique constraint "threads_pkey"', "UNIQUE constraint failed: threads.id", "database exploded at /srv/data"]) {
    expect(redactQueryParameters(message)).toBe(message);
  }
  expect(redactQueryParameters(`value "${SECRET}" is out of range for type integer`)).toBe('value "[redacted]" is out of range for type integer');
});

/** Creating a thread fails in the database, on a trigger that reads the title as the user wrote it. */
async function failOnThreadInsert(server: TestServer, databaseUrl: string | undefined): Promise<void> {
  if (databaseUrl) {
    const client = new SQL({ url: databaseUrl, max: 1 });
    await client.unsafe(`
      CREATE FUNCTION reject_thread() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN PERFORM NEW.title::integer; RETURN NEW; END $$;
      CREATE TRIGGER reject_thread BEFORE INSERT ON threads FOR EACH ROW EXECUTE FUNCTION reject_thread();`);
    await client.close();
  } else {
    const database = new Database(join(server.dataDir, "agentwire.db"));
    database.run("CREATE TRIGGER reject_thread BEFORE INSERT ON threads BEGIN SELECT RAISE(ABORT, 'threads are closed'); END");
    database.close();
  }
}

for (const dialect of ["sqlite", "postgres"] as const) {
  const skip = dialect === "postgres" && explainSkip("the PostgreSQL log test", ["postgres"]);
  describe.skipIf(skip)(dialect, () => {
    let server: TestServer;
    let database: TestDatabase | undefined;
    beforeAll(async () => {
      if (dialect === "postgres") database = await createTestDatabase();
      server = await startTestServer(database ? { DATABASE_URL: database.url } : {});
      await failOnThreadInsert(server, database?.url);
    });
    afterAll(async () => {
      await server.stop();
      await database?.drop();
    });

    test("a query failing on user text: internal for the client, logged with its code and without the text", async () => {
      const response = await fetch(`${server.httpUrl}/threads`, {
        method: "POST",
        headers: { "content-type": "application/json", authorization: `Bearer ${await server.token({ sub: "lena" })}` },
        body: JSON.stringify({ title: SECRET }),
      });
      expect(response.status).toBe(500);
      expect(await response.json()).toEqual({ code: "internal", message: "internal server error" });
      const line = server.logs.find((entry) => entry.msg === "request failed");
      expect(line).toBeDefined();
      expect((line!.error as { message: string }).message).toBe(`the database failed the query (${dialect === "postgres" ? "22P02" : "SQLITE_CONSTRAINT_TRIGGER"})`);
      expect(JSON.stringify(server.logs)).not.toContain("private words");
    });
  });
}
