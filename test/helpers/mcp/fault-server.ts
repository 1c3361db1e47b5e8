// An MCP server over stdio that misbehaves on request, for fault tests: `crash` exits mid-call, `hang`
// never answers, `huge` answers with FAULT_HUGE_BYTES (50 MiB) of text, `echo` works. Run with bun.

import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { StdioServerTransport } from "@modelcontextprotocol/sdk/server/stdio.js";
import { z } from "zod";

const hugeBytes = Number(process.env.FAULT_HUGE_BYTES ?? 50 * 1024 * 1024);
const server = new McpServer({ name: "fault-server", version: "1.0.0" });
const text = (value: string) => ({ content: [{ type: "text" as const, text: value }] });

server.registerTool("echo", { description: "Echoes the message", inputSchema: { message: z.string() } }, async ({ message }) => text(`fault-server echo: ${message}`));
server.registerTool("crash", { description: "Exits in the middle of the call" }, async () => {
  console.error("fault-server: crashing on purpose");
  setTimeout(() => process.exit(3), 10);
  return new Promise<never>(() => {});
});
server.registerTool("hang", { description: "Never answers" }, async () => new Promise<never>(() => {}));
server.registerTool("huge", { description: "Answers with a very long text" }, async () => text("x".repeat(hugeBytes)));
server.registerTool("fail", { description: "Reports an error result" }, async () => ({ ...text("the disk is full"), isError: true }));

console.error("fault-server: started");
await server.connect(new StdioServerTransport());
