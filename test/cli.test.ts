// The command line: token, migrate, config errors.

import { afterAll, describe, expect, test } from "bun:test";
import { Database } from "bun:sqlite";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createTokenService } from "../src/auth/tokens.ts";
import { parseArgs } from "../src/cli.ts";
import { run } from "./helpers/process.ts";

const dirs: string[] = [];
const tempDir = () => {
  const dir = mkdtempSync(join(tmpdir(), "agentwire-cli-"));
  dirs.push(dir);
  return dir;
};
afterAll(() => dirs.forEach((dir) => rmSync(dir, { recursive: true, force: true })));

describe("agentwire token", () => {
  test("prints a JWT signed with the configured secret carrying the claims", async () => {
    const secret = "cli-secret-0123456789abcdef";
    const result = await run(
      ["bun", "run", "src/index.ts", "token", "--sub", "alice", "--subscribe", "news:*", "--subscribe", "feed", "--publish", "out:*", "--ttl", "2h"],
      { JWT_SECRET: secret, DATA_DIR: tempDir() },
    );
    expect(result.code).toBe(0);
    const token = result.stdout.trim();
    const principal = await createTokenService(secret).verify(token);
    expect(principal?.sub).toBe("alice");
    const claims = JSON.parse(Buffer.from(token.split(".")[1]!, "base64url").toString());
    expect(claims).toMatchObject({ sub: "alice", subscribe: ["news:*", "feed"], publish: ["out:*"] });
    expect(claims.exp - Math.floor(Date.now() / 1000)).toBeGreaterThan(7100);
    expect(claims.exp - Math.floor(Date.now() / 1000)).toBeLessThanOrEqual(7200);
  });

  test("without JWT_SECRET it signs with the secret kept in DATA_DIR, which the server then uses", async () => {
    const dataDir = tempDir();
    const first = await run(["bun", "run", "src/index.ts", "token", "--sub", "bob"], { DATA_DIR: dataDir });
    expect(first.code).toBe(0);
    const secret = (await Bun.file(join(dataDir, "jwt-secret")).text()).trim();
    expect((await createTokenService(secret).verify(first.stdout.trim()))?.sub).toBe("bob");
  });

  test("refuses a missing --sub, a bad sub and a bad --ttl with exit code 2", async () => {
    for (const args of [["token"], ["token", "--sub", "a:b"], ["token", "--sub", "a", "--ttl", "soon"]]) {
      const result = await run(["bun", "run", "src/index.ts", ...args], { JWT_SECRET: "x".repeat(32), DATA_DIR: tempDir() });
      expect(result.code).toBe(2);
      expect(result.stderr).toContain("agentwire:");
    }
  });
});

test("agentwire migrate creates and migrates a fresh database", async () => {
  const dataDir = tempDir();
  const result = await run(["bun", "run", "src/index.ts", "migrate"], { DATA_DIR: dataDir });
  expect(result.code).toBe(0);
  const db = new Database(join(dataDir, "agentwire.db"), { readonly: true });
  const tables = db.query("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").all() as { name: string }[];
  expect(tables.map((t) => t.name)).toEqual(expect.arrayContaining(["threads", "messages", "__drizzle_migrations"]));
  db.close();
});

test("a bad setting stops start-up with a message naming every bad variable, secrets hidden", async () => {
  const result = await run(["bun", "run", "src/index.ts", "serve"], {
    PORT: "eighty",
    MAX_SUBSCRIPTIONS: "0",
    JWT_SECRET: "short",
    DATA_DIR: tempDir(),
  });
  expect(result.code).toBe(2);
  expect(result.stderr).toContain("PORT");
  expect(result.stderr).toContain("MAX_SUBSCRIPTIONS");
  expect(result.stderr).toContain("JWT_SECRET");
  expect(result.stderr).not.toContain("short");
});

test("flags override variables and map to their names", () => {
  expect(parseArgs(["serve", "--port", "9000", "--max-subscriptions=5"]).flags).toEqual({ PORT: "9000", MAX_SUBSCRIPTIONS: "5" });
  expect(parseArgs(["token", "--sub", "a", "--publish", "x", "--publish", "y"]).lists).toEqual({ publish: ["x", "y"] });
  expect(parseArgs([]).name).toBe("serve");
  expect(() => parseArgs(["launch"])).toThrow("unknown command");
});
