// Several agentwire nodes in one test process on one Redis prefix and one fresh PostgreSQL database,
// each with its own data dir, sharing the JWT secret and the fake model: a deployment in miniature.

import { startFakeOpenAI, type FakeOpenAI } from "./fake-openai.ts";
import { startTestServer, type TestServer } from "./server.ts";
import { createTestDatabase, deleteRedisKeys, randomPrefix, testRedisUrl, type TestDatabase } from "./services.ts";

export interface Cluster {
  nodes: TestServer[];
  fake: FakeOpenAI;
  database: TestDatabase;
  prefix: string;
  redisUrl: string;
  /** The settings every node of this cluster runs with. */
  env: Record<string, string>;
  addNode(env?: Record<string, string>): Promise<TestServer>;
  stop(): Promise<void>;
}

export async function startCluster(size: number, env: Record<string, string> = {}, redisUrl = testRedisUrl!): Promise<Cluster> {
  const fake = await startFakeOpenAI();
  const database = await createTestDatabase();
  const prefix = randomPrefix();
  const shared = {
    DATABASE_URL: database.url,
    REDIS_URL: redisUrl,
    REDIS_PREFIX: prefix,
    OPENAI_BASE_URL: fake.url,
    OPENAI_API_KEY: "sk-cluster-test",
    AGENT_MODEL: "fake-model",
    MODEL_RETRY_BASE_MS: "5",
    COALESCE_MS: "5",
    CHECKPOINT_MS: "50",
    SHUTDOWN_GRACE_S: "0",
    LOG_LEVEL: "warn",
    ...env,
  };
  const nodes: TestServer[] = [];
  const addNode = async (extra: Record<string, string> = {}) => {
    const node = await startTestServer({ ...shared, ...extra });
    nodes.push(node);
    return node;
  };
  for (let i = 0; i < size; i++) await addNode();
  return {
    nodes,
    fake,
    database,
    prefix,
    redisUrl,
    env: shared,
    addNode,
    async stop() {
      await Promise.all(nodes.map((node) => node.stop().catch(() => undefined)));
      await fake.close();
      await database.drop();
      await deleteRedisKeys(redisUrl, prefix).catch(() => undefined);
    },
  };
}
