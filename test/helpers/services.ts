// The real Redis and PostgreSQL servers for tests: a fresh database or key prefix per test, removed
// after, and a throwaway redis-server for outages. TEST_REDIS_URL / TEST_DATABASE_URL name them.

import { RedisClient, SQL, type Subprocess } from "bun";
import { waitFor } from "./wait.ts";

export const testRedisUrl = process.env.TEST_REDIS_URL;
export const testDatabaseUrl = process.env.TEST_DATABASE_URL;

/** Says once why a suite skips, so a green run without the services is not mistaken for coverage. */
export function explainSkip(suite: string, needs: ("redis" | "postgres")[]): boolean {
  const missing = needs.filter((need) => (need === "redis" ? !testRedisUrl : !testDatabaseUrl));
  if (missing.length === 0) return false;
  const variables = missing.map((need) => (need === "redis" ? "TEST_REDIS_URL (e.g. redis://127.0.0.1:6379)" : "TEST_DATABASE_URL (e.g. postgres://postgres@127.0.0.1:5432/postgres)"));
  console.warn(`skipping ${suite}: ${variables.join(" and ")} not set`);
  return true;
}

export const randomPrefix = () => `agentwire-test:${crypto.randomUUID().slice(0, 8)}:`;

/** Deletes every key under `prefix`, so tests leave the shared server as they found it. */
export async function deleteRedisKeys(url: string, prefix: string): Promise<void> {
  const client = new RedisClient(url);
  await client.connect();
  let cursor = "0";
  do {
    const [next, keys] = (await client.send("SCAN", [cursor, "MATCH", `${prefix}*`, "COUNT", "1000"])) as [string, string[]];
    cursor = next;
    if (keys.length > 0) await client.send("DEL", keys);
  } while (cursor !== "0");
  client.close();
}

export interface TestDatabase {
  url: string;
  /** Drops the database, closing any connection still open to it. */
  drop(): Promise<void>;
}

async function withAdmin<T>(adminUrl: string, use: (admin: SQL) => Promise<T>): Promise<T> {
  const admin = new SQL(adminUrl, { max: 1, connectionTimeout: 5 });
  try {
    return await use(admin);
  } finally {
    await admin.close();
  }
}

/** A fresh, empty database beside the one `adminUrl` names, so that no two tests share state. */
export async function createTestDatabase(adminUrl = testDatabaseUrl!): Promise<TestDatabase> {
  const name = `agentwire_test_${crypto.randomUUID().replaceAll("-", "")}`;
  await withAdmin(adminUrl, (admin) => admin.unsafe(`CREATE DATABASE "${name}"`));
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    drop: () => withAdmin(adminUrl, (admin) => admin.unsafe(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`)),
  };
}

export function freePort(): number {
  const listener = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const chosen = listener.port;
  listener.stop(true);
  return chosen;
}

/** A redis-server of the test's own, on a fixed port so it can be killed and started again there. */
export class OwnRedis {
  private process: Subprocess | undefined;
  readonly port = freePort();
  readonly url = `redis://127.0.0.1:${this.port}`;

  async start(): Promise<void> {
    this.process = Bun.spawn(["redis-server", "--port", String(this.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"], {
      stdout: "ignore",
      stderr: "ignore",
    });
    await waitFor(
      async () => {
        const client = new RedisClient(this.url, { autoReconnect: false, connectionTimeout: 500 });
        try {
          await client.connect();
          return (await client.send("PING", [])) === "PONG";
        } catch {
          return false;
        } finally {
          client.close();
        }
      },
      "redis-server to start",
      { intervalMs: 25 },
    );
  }

  async kill(): Promise<void> {
    this.process?.kill("SIGKILL");
    await this.process?.exited;
    this.process = undefined;
  }
}
