// The MCP_CONFIG file: the shape desktop MCP clients write, and one clear start-up error naming the file
// and the field for anything else.

import { afterAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ConfigError, parseConfig } from "../../../src/config.ts";

const directory = mkdtempSync(join(tmpdir(), "agentwire-mcp-config-"));
afterAll(() => rmSync(directory, { recursive: true, force: true }));

let files = 0;
function configFile(text: string): string {
  const path = join(directory, `mcp-${++files}.json`);
  writeFileSync(path, text);
  return path;
}

function problemsOf(path: string): string[] {
  try {
    parseConfig({ MCP_CONFIG: path });
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as ConfigError).problems;
  }
  throw new Error("expected a ConfigError");
}

test("stdio and Streamable HTTP servers are read as desktop clients write them", () => {
  const path = configFile(
    JSON.stringify({
      mcpServers: {
        fs: { command: "npx", args: ["-y", "@modelcontextprotocol/server-filesystem", "/tmp"], env: { DEBUG: "1" }, cwd: "/tmp" },
        everything: { type: "stdio", command: "bun" },
        remote: { url: "https://mcp.example.com/mcp", headers: { authorization: "Bearer secret-token" } },
        typed: { type: "http", url: "http://127.0.0.1:9000/mcp" },
      },
    }),
  );
  expect(parseConfig({ MCP_CONFIG: path }).mcpServers).toEqual([
    { name: "fs", transport: "stdio", command: "npx", args: ["-y", "@modelcontextprotocol/server-filesystem", "/tmp"], env: { DEBUG: "1" }, cwd: "/tmp" },
    { name: "everything", transport: "stdio", command: "bun", args: [], env: {} },
    { name: "remote", transport: "http", url: "https://mcp.example.com/mcp", headers: { authorization: "Bearer secret-token" } },
    { name: "typed", transport: "http", url: "http://127.0.0.1:9000/mcp", headers: {} },
  ]);
  expect(parseConfig({}).mcpServers).toEqual([]);
});

test("bad JSON, an unknown field and a name with __ each stop start-up, naming the file and the field", () => {
  const badJson = configFile('{"mcpServers": {"fs": {"command": "npx",}}}');
  expect(problemsOf(badJson)).toEqual([expect.stringMatching(/^MCP_CONFIG \S+mcp-\d+\.json: not valid JSON \(.+\)$/)]);
  expect(problemsOf(badJson)[0]).toStartWith(`MCP_CONFIG ${badJson}: `);

  const unknownField = configFile(JSON.stringify({ mcpServers: { fs: { command: "npx", argz: ["x"] } } }));
  expect(problemsOf(unknownField)).toEqual([`MCP_CONFIG ${unknownField}: mcpServers."fs".argz: unknown field (a stdio server takes command, args, env, cwd)`]);

  const separator = configFile(JSON.stringify({ mcpServers: { my__fs: { command: "npx" } } }));
  expect(problemsOf(separator)).toEqual([
    `MCP_CONFIG ${separator}: mcpServers."my__fs": a server name may not contain "__" (its tools are offered as <server>__<tool>)`,
  ]);
});

test("other mistakes are named too, and secrets in headers and env are never echoed", () => {
  const path = configFile(
    JSON.stringify({
      servers: {},
      mcpServers: {
        both: { command: "x", url: "http://localhost/mcp" },
        remote: { url: "ftp://example.com", headers: { authorization: "Bearer leaked-secret" } },
        sse: { type: "sse", url: "http://localhost/sse" },
        env: { command: "x", env: { TOKEN: 5 } },
        args: { command: "x", args: ["ok", 3] },
        "bad name": { command: "x" },
        nothing: {},
      },
    }),
  );
  const problems = problemsOf(path);
  expect(problems.map((problem) => problem.slice(`MCP_CONFIG ${path}: `.length))).toEqual([
    'servers: unknown field (expected "mcpServers")',
    'mcpServers."both".url: unknown field (a stdio server takes command, args, env, cwd)',
    'mcpServers."remote".url: must be an http:// or https:// URL',
    'mcpServers."sse".type: must be "stdio", "http" or "streamable-http" (the older SSE transport is not supported)',
    'mcpServers."env".env.TOKEN: must be a string',
    'mcpServers."args".args[1]: must be a string',
    'mcpServers."bad name": a server name must be 1-32 characters of A-Z a-z 0-9 _ -',
    'mcpServers."nothing".command: must be a non-empty string (or give `url` for a Streamable HTTP server)',
  ]);
  expect(problems.join("\n")).not.toContain("leaked-secret");
  expect(problemsOf(join(directory, "missing.json"))).toEqual([`MCP_CONFIG ${join(directory, "missing.json")}: cannot read the file (no such file)`]);
});
