// Starts the real app on port 0 with a temporary data dir and a captured log, as a test's own server.

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startApp, type App, type AppParts } from "../../src/app.ts";
import type { Claims } from "../../src/auth/principal.ts";
import { parseConfig } from "../../src/config.ts";
import { createLogger } from "../../src/observability/log.ts";

export const TEST_SECRET = "test-secret-0123456789abcdef";

export interface TestServer {
  app: App;
  httpUrl: string;
  wsUrl: string;
  dataDir: string;
  /** Every log line written so far, parsed. */
  logs: Record<string, unknown>[];
  token(claims: Omit<Claims, "exp">, ttlSeconds?: number): Promise<string>;
  stop(): Promise<void>;
}

export async function startTestServer(env: Record<string, string> = {}, parts: AppParts = {}): Promise<TestServer> {
  const dataDir = mkdtempSync(join(tmpdir(), "agentwire-test-"));
  const config = parseConfig({
    PORT: "0",
    HOST: "127.0.0.1",
    DATA_DIR: dataDir,
    JWT_SECRET: TEST_SECRET,
    LOG_LEVEL: "debug",
    ...env,
  });
  const logs: Record<string, unknown>[] = [];
  const logger = createLogger(config.logLevel, (line) => logs.push(JSON.parse(line)));
  const app = await startApp(config, { logger, ...parts });
  const httpUrl = `http://localhost:${app.port}`;
  return {
    app,
    httpUrl,
    wsUrl: `ws://localhost:${app.port}/ws`,
    dataDir,
    logs,
    token: (claims, ttlSeconds = 3600) => app.tokens.sign(claims, ttlSeconds),
    async stop() {
      await app.stop();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
