// The MCP_CONFIG file: `{"mcpServers": {...}}` as desktop MCP clients write it, each server started over
// stdio (`command`, `args`, `env`, `cwd`) or reached over Streamable HTTP (`url`, `headers`). Every problem
// names the file and the field; values are never echoed, as headers and env may hold secrets.

import { readFileSync, statSync } from "node:fs";

export type McpServerConfig =
  | { name: string; transport: "stdio"; command: string; args: string[]; env: Record<string, string>; cwd?: string }
  | { name: string; transport: "http"; url: string; headers: Record<string, string> };

/** Separates a server's name from its tools' names in what the model sees: `<server>__<tool>`. */
export const TOOL_NAME_SEPARATOR = "__";

// Short enough to leave room for the tool's own name within the 64 characters model APIs accept.
const SERVER_NAME = /^[A-Za-z0-9_-]{1,32}$/;
const MAX_FILE_BYTES = 1024 * 1024;
const STDIO_FIELDS = ["type", "command", "args", "env", "cwd"];
const HTTP_FIELDS = ["type", "url", "headers"];

/** Reads and checks the file; returns the servers, or the problems, each naming the file and the field. */
export function loadMcpConfig(path: string): { servers: McpServerConfig[]; problems: string[] } {
  const where = `MCP_CONFIG ${path}`;
  let text: string;
  try {
    if (statSync(path).size > MAX_FILE_BYTES) return { servers: [], problems: [`${where}: the file is over ${MAX_FILE_BYTES} bytes`] };
    text = readFileSync(path, "utf8");
  } catch (error) {
    const code = (error as { code?: string }).code;
    return { servers: [], problems: [`${where}: cannot read the file (${code === "ENOENT" ? "no such file" : (code ?? "unreadable")})`] };
  }
  let document: unknown;
  try {
    document = JSON.parse(text);
  } catch (error) {
    return { servers: [], problems: [`${where}: not valid JSON (${(error as Error).message})`] };
  }
  const problems: string[] = [];
  const problem = (field: string, message: string) => problems.push(`${where}: ${field}: ${message}`);
  if (!isObject(document)) return { servers: [], problems: [`${where}: the file must hold a JSON object {"mcpServers": {...}}`] };
  for (const key of Object.keys(document)) if (key !== "mcpServers") problem(key, `unknown field (expected "mcpServers")`);
  const entries = document.mcpServers;
  if (!isObject(entries)) {
    problem("mcpServers", "must be an object of servers by name");
    return { servers: [], problems };
  }
  const servers: McpServerConfig[] = [];
  for (const [name, entry] of Object.entries(entries)) {
    const field = `mcpServers.${JSON.stringify(name)}`;
    if (name.includes(TOOL_NAME_SEPARATOR)) {
      problem(field, `a server name may not contain "${TOOL_NAME_SEPARATOR}" (its tools are offered as <server>${TOOL_NAME_SEPARATOR}<tool>)`);
      continue;
    }
    if (!SERVER_NAME.test(name)) {
      problem(field, "a server name must be 1-32 characters of A-Z a-z 0-9 _ -");
      continue;
    }
    if (name === "builtin") {
      problem(field, `"builtin" names the built-in tools; choose another server name`);
      continue;
    }
    const server = checkServer(name, entry, (inner, message) => problem(inner ? `${field}.${inner}` : field, message));
    if (server) servers.push(server);
  }
  return { servers, problems };
}

function checkServer(name: string, entry: unknown, problem: (field: string, message: string) => void): McpServerConfig | undefined {
  if (!isObject(entry)) return void problem("", "must be an object with `command` (stdio) or `url` (Streamable HTTP)");
  const type = entry.type;
  if (type !== undefined && type !== "stdio" && type !== "http" && type !== "streamable-http") {
    return void problem("type", `must be "stdio", "http" or "streamable-http" (the older SSE transport is not supported)`);
  }
  const isHttp = type === "http" || type === "streamable-http" || (type === undefined && "url" in entry && !("command" in entry));
  const allowed = isHttp ? HTTP_FIELDS : STDIO_FIELDS;
  let ok = true;
  for (const key of Object.keys(entry)) {
    if (!allowed.includes(key)) {
      problem(key, `unknown field (a ${isHttp ? "Streamable HTTP" : "stdio"} server takes ${allowed.filter((field) => field !== "type").join(", ")})`);
      ok = false;
    }
  }
  if (isHttp) {
    const url = entry.url;
    if (typeof url !== "string" || !/^https?:\/\/\S+$/.test(url) || !URL.canParse(url)) return void problem("url", "must be an http:// or https:// URL");
    const headers = stringRecord(entry.headers, "headers", problem);
    return ok && headers ? { name, transport: "http", url, headers } : undefined;
  }
  const command = entry.command;
  if (typeof command !== "string" || command.length === 0) return void problem("command", "must be a non-empty string (or give `url` for a Streamable HTTP server)");
  const args = entry.args ?? [];
  if (!Array.isArray(args)) return void problem("args", "must be an array of strings");
  const badArgument = args.findIndex((argument) => typeof argument !== "string");
  if (badArgument >= 0) return void problem(`args[${badArgument}]`, "must be a string");
  const env = stringRecord(entry.env, "env", problem);
  const cwd = entry.cwd;
  if (cwd !== undefined && (typeof cwd !== "string" || cwd.length === 0)) return void problem("cwd", "must be a non-empty string");
  return ok && env ? { name, transport: "stdio", command, args: args as string[], env, ...(cwd === undefined ? {} : { cwd }) } : undefined;
}

function stringRecord(value: unknown, field: string, problem: (field: string, message: string) => void): Record<string, string> | undefined {
  if (value === undefined) return {};
  if (!isObject(value)) return void problem(field, "must be an object of strings");
  for (const [key, item] of Object.entries(value)) {
    if (typeof item !== "string") return void problem(`${field}.${key}`, "must be a string");
  }
  return value as Record<string, string>;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
