// Scenario "mcp": what a tool call costs when the tool is an MCP server's over stdio, against a built-in
// tool, both through the registry as a run calls them (argument parsing and validation, then execute).
// The MCP server is the third-party server-everything (its `echo`), started as MCP_CONFIG would start it;
// the baseline is the built-in `calculator`, measured in the same process, interleaved call by call.

import { join } from "node:path";
import { BuiltinSource } from "../src/agent/tools/builtin/builtin-source.ts";
import { McpSource } from "../src/agent/tools/mcp/mcp-source.ts";
import { ToolRegistry } from "../src/agent/tools/registry.ts";
import type { ToolContext } from "../src/agent/tools/tool.ts";
import { createLogger } from "../src/observability/log.ts";
import { SqliteStorage } from "../src/storage/sqlite/sqlite-storage.ts";
import { ROOT } from "./servers.ts";
import { median, percentile } from "./stats.ts";

export interface McpOptions {
  /** Measured calls of each tool per round. */
  calls: number;
  rounds: number;
}

export interface McpTiming {
  tool: string;
  /** Microseconds per call. */
  p50: number;
  p99: number;
  mean: number;
}

export interface McpRound {
  builtin: McpTiming;
  mcp: McpTiming;
}

const WARMUP_CALLS = 300;
const CALLS: Record<"builtin" | "mcp", { name: string; arguments: string }> = {
  builtin: { name: "calculator", arguments: '{"expression":"6 * (3 + 4)"}' },
  mcp: { name: "everything__echo", arguments: '{"message":"hello over stdio"}' },
};

export async function runMcp(options: McpOptions): Promise<McpRound[]> {
  const storage = SqliteStorage.open(":memory:");
  const everything = new McpSource({
    server: { name: "everything", transport: "stdio", command: process.execPath, args: [join(ROOT, "node_modules/@modelcontextprotocol/server-everything/dist/index.js"), "stdio"], env: {} },
    logger: createLogger("silent"),
    callTimeoutMs: 10_000,
    maxMessageBytes: 4 * 1024 * 1024,
    restartBaseMs: 500,
  });
  const registry = new ToolRegistry([new BuiltinSource(), everything]);
  await registry.start();
  if (everything.health().state !== "ready") throw new Error(`server-everything did not start: ${everything.health().error}`);
  const context: ToolContext = { signal: new AbortController().signal, userId: "bench", threadId: "bench", storage };
  const call = async (kind: "builtin" | "mcp"): Promise<number> => {
    const started = performance.now();
    const parsed = registry.parseArguments(CALLS[kind].name, CALLS[kind].arguments);
    if (!parsed.ok) throw new Error(parsed.error);
    await registry.get(CALLS[kind].name)!.execute(parsed.args, context);
    return (performance.now() - started) * 1000;
  };
  try {
    const rounds: McpRound[] = [];
    for (let round = 0; round < options.rounds; round++) {
      for (let index = 0; index < WARMUP_CALLS; index++) await Promise.all([call("builtin"), call("mcp")]);
      const times = { builtin: [] as number[], mcp: [] as number[] };
      // Interleaved, one call at a time: both see the same machine at the same moments.
      for (let index = 0; index < options.calls; index++) {
        times.builtin.push(await call("builtin"));
        times.mcp.push(await call("mcp"));
      }
      const timing = (kind: "builtin" | "mcp"): McpTiming => ({
        tool: CALLS[kind].name,
        p50: median(times[kind]),
        p99: percentile(times[kind], 99),
        mean: times[kind].reduce((sum, value) => sum + value, 0) / times[kind].length,
      });
      rounds.push({ builtin: timing("builtin"), mcp: timing("mcp") });
      console.log(`mcp round ${round + 1}: built-in p50 ${rounds.at(-1)!.builtin.p50.toFixed(1)} us, MCP stdio p50 ${rounds.at(-1)!.mcp.p50.toFixed(1)} us`);
    }
    return rounds;
  } finally {
    await registry.close();
    await storage.close();
  }
}
