// The Redis and PostgreSQL that multi-node scenarios run on: a fresh database and key prefix per bench run, removed after.

import { RedisClient, SQL } from "bun";
import { registerCleanup } from "./cleanup.ts";

export interface ServiceUrls {
  redisUrl: string;
  /** A database the bench may connect to in order to create and drop its own. */
  adminDatabaseUrl: string;
}

export interface SharedServices {
  redisUrl: string;
  /** The bench run's own database, shared by every node started on these services. */
  databaseUrl: string;
  /** Every Redis key of this bench run starts with it; a configuration adds its own suffix. */
  prefix: string;
  /** CPU time Redis has used since it started (user + system), from INFO: what it spends on the bench's publications. */
  redisCpuSeconds(): Promise<number>;
  /** Drops the database and deletes the keys; safe to call twice. */
  remove(): Promise<void>;
}

/** Redis or PostgreSQL could not be reached: the scenario is skipped, not failed, since they are outside the bench. */
export class ServicesUnavailableError extends Error {}

const CONNECT_TIMEOUT_MS = 5_000;
const COMMAND_TIMEOUT_MS = 10_000;

function bounded<T>(work: Promise<T>, what: string): Promise<T> {
  return Promise.race([work, Bun.sleep(COMMAND_TIMEOUT_MS).then(() => Promise.reject(new Error(`${what} took over ${COMMAND_TIMEOUT_MS} ms`)))]);
}

async function withAdmin<T>(adminUrl: string, use: (admin: SQL) => Promise<T>): Promise<T> {
  const admin = new SQL(adminUrl, { max: 1, connectionTimeout: CONNECT_TIMEOUT_MS / 1000 });
  try {
    return await bounded(use(admin), "a PostgreSQL admin command");
  } finally {
    await admin.close();
  }
}

async function withRedis<T>(url: string, use: (client: RedisClient) => Promise<T>): Promise<T> {
  const client = new RedisClient(url, { autoReconnect: false, connectionTimeout: CONNECT_TIMEOUT_MS });
  try {
    await client.connect();
    return await bounded(use(client), "a Redis command");
  } finally {
    client.close();
  }
}

async function deleteKeys(client: RedisClient, prefix: string): Promise<void> {
  let cursor = "0";
  // SCAN ends when the cursor comes back to 0; the cap only guards against a server that never says so.
  for (let page = 0; page < 100_000; page++) {
    const [next, keys] = (await client.send("SCAN", [cursor, "MATCH", `${prefix}*`, "COUNT", "1000"])) as [string, string[]];
    if (keys.length > 0) await client.send("DEL", keys);
    cursor = next;
    if (cursor === "0") return;
  }
}

export async function openSharedServices(urls: ServiceUrls): Promise<SharedServices> {
  const runId = crypto.randomUUID().replaceAll("-", "").slice(0, 12);
  const databaseName = `agentwire_bench_${runId}`;
  const prefix = `agentwire-bench:${runId}:`;
  let removed: Promise<void> | undefined;
  const remove = () =>
    (removed ??= (async () => {
      unregister();
      const results = await Promise.allSettled([
        withAdmin(urls.adminDatabaseUrl, (admin) => admin.unsafe(`DROP DATABASE IF EXISTS "${databaseName}" WITH (FORCE)`)),
        withRedis(urls.redisUrl, (client) => deleteKeys(client, prefix)),
      ]);
      const failures = results.filter((result): result is PromiseRejectedResult => result.status === "rejected");
      if (failures.length > 0) throw new Error(`could not remove ${databaseName} / ${prefix}*: ${failures.map((failure) => failure.reason).join("; ")}`);
    })());
  // Registered before anything exists, so an abort in between still removes whatever was made.
  const unregister = registerCleanup(remove);
  try {
    await withRedis(urls.redisUrl, (client) => client.send("PING", []));
    await withAdmin(urls.adminDatabaseUrl, (admin) => admin.unsafe(`CREATE DATABASE "${databaseName}"`));
  } catch (error) {
    await remove().catch(() => undefined);
    throw new ServicesUnavailableError(
      `needs Redis at ${urls.redisUrl} and PostgreSQL at ${urls.adminDatabaseUrl} (--redis-url, --database-url): ${(error as Error).message}`,
    );
  }
  const databaseUrl = new URL(urls.adminDatabaseUrl);
  databaseUrl.pathname = `/${databaseName}`;
  return {
    redisUrl: urls.redisUrl,
    databaseUrl: databaseUrl.toString(),
    prefix,
    async redisCpuSeconds() {
      const info = String(await withRedis(urls.redisUrl, (client) => client.send("INFO", ["cpu"])));
      const field = (name: string) => Number(new RegExp(`^${name}:([\\d.]+)`, "m").exec(info)?.[1] ?? Number.NaN);
      return field("used_cpu_user") + field("used_cpu_sys");
    },
    remove,
  };
}
