// Config parsing: defaults, coercion, flags over environment, one error naming every problem.

import { expect, test } from "bun:test";
import { ConfigError, parseConfig } from "../src/config.ts";

test("defaults match PROTOCOL.md", () => {
  const config = parseConfig({});
  expect(config).toMatchObject({
    port: 8080,
    host: "0.0.0.0",
    dataDir: "./data",
    historySize: 1000,
    maxFrameBytes: 1024 * 1024,
    rateLimitPerS: 1000,
    rateLimitBurst: 2000,
    maxSubscriptions: 100,
    maxQueuedBytes: 4 * 1024 * 1024,
    pingIntervalS: 30,
    idleTimeoutS: 120,
    approvalTimeoutS: 600,
    toolsRequireApproval: [],
  });
  expect(config.jwtSecret).toBeUndefined();
});

test("values are coerced, lists split, and flags win over the environment", () => {
  const config = parseConfig({ PORT: "9000", TOOLS_REQUIRE_APPROVAL: "calculator, search_history" }, { PORT: "9001" });
  expect(config.port).toBe(9001);
  expect(config.toolsRequireApproval).toEqual(["calculator", "search_history"]);
});

test("every bad variable is reported in one error", () => {
  try {
    parseConfig({ PORT: "70000", RATE_LIMIT_PER_S: "-1", LOG_LEVEL: "loud", DATABASE_URL: "mysql://x" });
    throw new Error("expected a ConfigError");
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    const problems = (error as ConfigError).problems.join("\n");
    expect(problems).toContain("PORT");
    expect(problems).toContain("RATE_LIMIT_PER_S");
    expect(problems).toContain("LOG_LEVEL");
    expect(problems).toContain("DATABASE_URL");
    expect(problems).not.toContain("mysql");
  }
});
