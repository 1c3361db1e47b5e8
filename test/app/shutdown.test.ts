// Graceful shutdown of the real process: shutdown frame, close 1001, database closed cleanly.

import { expect, test } from "bun:test";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createTokenService } from "../../src/auth/tokens.ts";
import { ROOT, spawnServer } from "../helpers/process.ts";
import { connectAs } from "../helpers/ws-client.ts";

for (const signal of ["SIGTERM", "SIGINT"] as const) {
  test(`${signal}: clients get a shutdown frame and close 1001, the process exits 0, the database is closed`, async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "agentwire-shutdown-"));
    const secret = "shutdown-secret-0123456789";
    try {
      const server = await spawnServer(["bun", "run", join(ROOT, "src/index.ts")], { cwd: ROOT, env: { DATA_DIR: dataDir, JWT_SECRET: secret } });
      const client = await connectAs(`ws://localhost:${server.port}/ws`, await createTokenService(secret).sign({ sub: "sam" }, 60));
      await client.subscribe("user:sam");
      server.process.kill(signal);
      const shutdown = await client.next((frame) => frame.channel === "system" && frame.payload.type !== "connected");
      expect(shutdown).toEqual({ channel: "system", payload: { type: "shutdown" } });
      expect((await client.closed).code).toBe(1001);
      expect(await server.exited).toBe(0);
      expect(server.lines.some((line) => line.msg === "stopped")).toBe(true);
      // SQLite removes the write-ahead log when the last connection closes cleanly.
      expect(existsSync(join(dataDir, "agentwire.db"))).toBe(true);
      expect(existsSync(join(dataDir, "agentwire.db-wal"))).toBe(false);
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
}
