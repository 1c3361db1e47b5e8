// Text for the mcp scenario: built-in and MCP stdio tool calls side by side, and what the stdio round trip adds.

import type { McpRound } from "./mcp.ts";
import { formatNumber, median, table } from "./stats.ts";

export function mcpReport(rounds: McpRound[]): string {
  const middle = (pick: (round: McpRound) => number) => median(rounds.map(pick));
  const figures = (kind: "builtin" | "mcp") => ({
    p50: middle((round) => round[kind].p50),
    p99: middle((round) => round[kind].p99),
    mean: middle((round) => round[kind].mean),
  });
  const builtin = figures("builtin");
  const mcp = figures("mcp");
  const us = (value: number) => formatNumber(value, 1);
  const rows = [
    [`built-in (${rounds[0]!.builtin.tool})`, us(builtin.p50), us(builtin.p99), us(builtin.mean)],
    [`MCP stdio (${rounds[0]!.mcp.tool})`, us(mcp.p50), us(mcp.p99), us(mcp.mean)],
    ["added by the MCP round trip", us(mcp.p50 - builtin.p50), us(mcp.p99 - builtin.p99), us(mcp.mean - builtin.mean)],
  ];
  return (
    `One tool call as a run makes it (arguments parsed and validated, then executed), in microseconds; median over ${rounds.length} round(s).\n\n` +
    table(["tool", "p50 us", "p99 us", "mean us"], rows) +
    `\n\nMCP stdio / built-in: ${formatNumber(mcp.p50 / builtin.p50, 1)}x at p50, ${formatNumber(mcp.p99 / builtin.p99, 1)}x at p99.`
  );
}
