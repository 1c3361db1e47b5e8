// One MCP server as a tool source, through the official SDK client: started over stdio or reached over
// Streamable HTTP, its tools offered as `<server>__<tool>`, its list followed on `tools/list_changed`,
// each call bounded in time and cancelled with the run. A server that fails to start or dies makes its
// tools fail with a clear error and is started again with backoff (docs/protocol.md section 13).

import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import type { Transport } from "@modelcontextprotocol/sdk/shared/transport.js";
import { ErrorCode, McpError, ToolListChangedNotificationSchema, type CallToolResult, type Tool as McpTool } from "@modelcontextprotocol/sdk/types.js";
import type { Logger } from "../../../observability/log.ts";
import { ToolError, type Tool, type ToolOutput, type ToolSource, type ToolSourceHealth, type ToolSourceState } from "../tool.ts";
import { boundedFetch } from "./bounded-fetch.ts";
import { BoundedReadBuffer } from "./bounded-read-buffer.ts";
import { TOOL_NAME_SEPARATOR, type McpServerConfig } from "./mcp-config.ts";
import { resultText } from "./mcp-result.ts";
import { forwardStderr } from "./stderr-lines.ts";

export interface McpSourceOptions {
  server: McpServerConfig;
  logger: Logger;
  callTimeoutMs: number;
  /** The largest message held from a server (bounded-lines.ts). */
  maxMessageBytes: number;
  /** The first restart's delay; each failure in a row doubles it, up to `restartMaxMs`. */
  restartBaseMs: number;
  restartMaxMs?: number;
  /** How long `initialize` and `tools/list` may take. */
  startTimeoutMs?: number;
}

const MODEL_TOOL_NAME = /^[A-Za-z0-9_-]{1,64}$/;
const MAX_DESCRIPTION_CHARS = 4096;
const MAX_LIST_PAGES = 20;
// A server that stays up this long is healthy again: its next failure restarts it after the base delay.
const STABLE_MS = 30_000;

export class McpSource implements ToolSource {
  readonly name: string;
  readonly kind: "stdio" | "http";
  private state: ToolSourceState = "starting";
  private error: string | undefined;
  private restarts = 0;
  private failuresInARow = 0;
  private readySince = 0;
  private client: Client | undefined;
  // Bumped by every (re)connection and every loss: events of an older connection are ignored.
  private generation = 0;
  private listed: Tool[] = [];
  private readonly listeners: (() => void)[] = [];
  private restartTimer: Timer | undefined;
  private firstAttempt: Promise<void> | undefined;
  private readonly log: Logger;

  constructor(private readonly options: McpSourceOptions) {
    this.name = options.server.name;
    this.kind = options.server.transport;
    this.log = options.logger.child({ mcp_server: this.name });
  }

  tools(): readonly Tool[] {
    return this.listed;
  }

  owns(name: string): boolean {
    return name.startsWith(this.name + TOOL_NAME_SEPARATOR);
  }

  health(): ToolSourceHealth {
    return { state: this.state, restarts: this.restarts, ...(this.error ? { error: this.error } : {}) };
  }

  onToolsChanged(listener: () => void): void {
    this.listeners.push(listener);
  }

  start(): Promise<void> {
    return (this.firstAttempt ??= this.connect());
  }

  async close(): Promise<void> {
    this.state = "closed";
    this.generation++;
    clearTimeout(this.restartTimer);
    const client = this.client;
    this.client = undefined;
    await client?.close().catch(() => {});
  }

  private async connect(): Promise<void> {
    const generation = ++this.generation;
    this.state = "starting";
    const client = new Client({ name: "agentwire", version: "1" }, { capabilities: {} });
    client.onclose = () => this.lost(generation, "the server closed the connection");
    client.onerror = (error) => this.log.debug("MCP transport error", { error: describe(error) });
    client.setNotificationHandler(ToolListChangedNotificationSchema, () => {
      this.refresh(client, generation).catch((error) => this.log.warn("could not list the MCP server's changed tools", { error: describe(error) }));
    });
    const timeout = this.options.startTimeoutMs ?? 30_000;
    try {
      await client.connect(this.transport(), { timeout });
      await this.refresh(client, generation);
    } catch (error) {
      if (generation !== this.generation) return;
      this.generation++;
      await client.close().catch(() => {});
      this.down(startError(error, this.options.server, timeout));
      return;
    }
    if (generation !== this.generation) return void client.close().catch(() => {});
    this.client = client;
    this.state = "ready";
    this.error = undefined;
    this.readySince = Date.now();
    this.log.info("MCP server ready", { tools: this.listed.length });
  }

  private transport(): Transport {
    const server = this.options.server;
    const oversized = (bytes: number, answered: boolean) =>
      this.log.warn("MCP server sent a message over MCP_MAX_MESSAGE_BYTES", { bytes, max: this.options.maxMessageBytes, answered });
    if (server.transport === "http") {
      return new StreamableHTTPClientTransport(new URL(server.url), { requestInit: { headers: server.headers }, fetch: boundedFetch(this.options.maxMessageBytes, oversized) });
    }
    // Only the SDK's safe defaults (PATH, HOME, ...) and the configured env reach the server, never our secrets.
    const transport = new StdioClientTransport({ command: server.command, args: server.args, env: server.env, cwd: server.cwd, stderr: "pipe" });
    // The SDK's buffer holds a whole line and closes the connection past its limit; ours holds at most
    // maxMessageBytes of it and cuts a long result instead. The SDK version is pinned for this field.
    if (!("_readBuffer" in transport)) throw new Error("the MCP SDK's stdio transport changed: no _readBuffer to bound");
    (transport as unknown as { _readBuffer: BoundedReadBuffer })._readBuffer = new BoundedReadBuffer(this.options.maxMessageBytes, oversized);
    if (transport.stderr) forwardStderr(transport.stderr, (line) => this.log.debug("MCP server stderr", { line }));
    return transport;
  }

  private async refresh(client: Client, generation: number): Promise<void> {
    const found: McpTool[] = [];
    let cursor: string | undefined;
    for (let page = 0; page < MAX_LIST_PAGES; page++) {
      const result = await client.listTools(cursor === undefined ? undefined : { cursor }, { timeout: this.options.startTimeoutMs ?? 30_000 });
      found.push(...result.tools);
      cursor = result.nextCursor;
      if (cursor === undefined) break;
    }
    if (generation !== this.generation) return;
    this.listed = this.adapt(found);
    for (const listener of this.listeners) listener();
  }

  private adapt(found: McpTool[]): Tool[] {
    const tools = new Map<string, Tool>();
    for (const tool of found) {
      const name = `${this.name}${TOOL_NAME_SEPARATOR}${tool.name.replace(/[^A-Za-z0-9_-]/g, "_")}`;
      if (!MODEL_TOOL_NAME.test(name) || tools.has(name)) {
        this.log.warn("MCP tool left out: its name does not fit a model's 64 characters of A-Z a-z 0-9 _ - or is taken", { tool: tool.name });
        continue;
      }
      const serverName = tool.name;
      tools.set(name, {
        name,
        description: (tool.description || tool.title || `${tool.name} (from the MCP server ${this.name})`).slice(0, MAX_DESCRIPTION_CHARS),
        parameters: tool.inputSchema as Record<string, unknown>,
        destructive: tool.annotations?.destructiveHint === true,
        execute: (args, context) => this.call(serverName, args, context.signal),
      });
    }
    return [...tools.values()];
  }

  private async call(name: string, args: unknown, signal: AbortSignal): Promise<ToolOutput> {
    const client = this.client;
    if (this.state !== "ready" || !client) throw new ToolError(this.unavailable());
    const timeout = this.options.callTimeoutMs;
    let result: CallToolResult;
    try {
      // The signal sends `notifications/cancelled` to the server when the run is stopped; so does the timeout.
      result = (await client.callTool({ name, arguments: args as Record<string, unknown> }, undefined, { signal, timeout })) as CallToolResult;
    } catch (error) {
      if (signal.aborted) throw error;
      throw this.callError(error, timeout);
    }
    const { text, cutFromBytes } = resultText(result);
    if (result.isError) throw new ToolError(text || "the tool reported an error without a message");
    if (cutFromBytes === undefined) return { result: text };
    // The note comes first: the run's own cut to TOOL_MAX_CHARS keeps the beginning.
    return { result: `[agentwire: the tool's result was ${cutFromBytes} bytes; only its beginning follows]\n${text}` };
  }

  private callError(error: unknown, timeout: number): ToolError {
    if (error instanceof McpError) {
      if (error.code === ErrorCode.RequestTimeout) return new ToolError(`the call timed out after ${timeout / 1000} s (MCP_TOOL_TIMEOUT_S)`);
      if (error.code === ErrorCode.ConnectionClosed) return new ToolError(`the MCP server "${this.name}" stopped during the call; it is being restarted`);
      return new ToolError(`the MCP server "${this.name}" answered with an error: ${error.message.replace(/^MCP error -?\d+: /, "")}`);
    }
    // Over HTTP a failed request is how a dead server shows: reconnect as for a stdio server that exited.
    this.lost(this.generation, describe(error));
    return new ToolError(`the MCP server "${this.name}" could not be reached: ${describe(error)}`);
  }

  private unavailable(): string {
    return `the MCP server "${this.name}" is not available${this.error ? `: ${this.error}` : " yet"}`;
  }

  private lost(generation: number, reason: string): void {
    if (generation !== this.generation || this.state !== "ready") return;
    this.generation++;
    const client = this.client;
    this.client = undefined;
    client?.close().catch(() => {});
    if (Date.now() - this.readySince >= STABLE_MS) this.failuresInARow = 0;
    this.down(reason);
  }

  private down(reason: string): void {
    if (this.state === "closed") return;
    this.state = "down";
    this.error = reason;
    const { restartBaseMs, restartMaxMs = 30_000 } = this.options;
    const ceiling = Math.min(restartMaxMs, restartBaseMs * 2 ** Math.min(this.failuresInARow, 20));
    this.failuresInARow++;
    // Half fixed, half random: servers that failed together do not all restart at the same moment.
    const delay = ceiling / 2 + Math.random() * (ceiling / 2);
    this.log.warn("MCP server down; restarting", { reason, restart_in_ms: Math.round(delay) });
    clearTimeout(this.restartTimer);
    this.restartTimer = setTimeout(() => {
      this.restarts++;
      void this.connect();
    }, delay);
    this.restartTimer.unref?.();
  }
}

function describe(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return message.slice(0, 300);
}

function startError(error: unknown, server: McpServerConfig, timeout: number): string {
  const code = (error as { code?: unknown }).code;
  if (server.transport === "stdio" && code === "ENOENT") return `could not start "${server.command}": command not found`;
  if (server.transport === "stdio" && code === "EACCES") return `could not start "${server.command}": not executable`;
  if (error instanceof McpError && error.code === ErrorCode.RequestTimeout) return `the server did not answer within ${timeout / 1000} s of starting`;
  if (error instanceof McpError && error.code === ErrorCode.ConnectionClosed) return "the server exited while starting";
  return `could not start: ${describe(error)}`;
}
