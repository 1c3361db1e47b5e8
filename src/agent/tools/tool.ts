// What a tool is and where tools come from: a tool has a JSON-schema'd parameter object and an execute
// function that honours the run's abort signal; a source (the built-in tools, one MCP server) lists
// tools, says when its list changed and reports its health. The run loop never knows the source.

import type { Static, TSchema } from "@sinclair/typebox";
import type { Storage } from "../../storage/storage.ts";

export interface Source {
  id: string;
  title: string;
  url?: string;
  snippet?: string;
}

export interface ToolContext {
  signal: AbortSignal;
  /** The thread owner the run acts for. */
  userId: string;
  threadId: string;
  storage: Storage;
}

export interface ToolOutput {
  /** What the model is told, as text. */
  result: string;
  sources?: Source[];
}

/** A JSON Schema object: a TypeBox schema for built-in tools, a server's plain JSON Schema for MCP tools. */
export type JsonSchema = Record<string, unknown>;

export interface Tool {
  /** The name the model calls it by: `^[A-Za-z0-9_-]{1,64}$`. */
  readonly name: string;
  readonly description: string;
  /** The JSON Schema of the arguments object; arguments are validated against it before execute. */
  readonly parameters: JsonSchema;
  /** Its source says it may destroy data (MCP `destructiveHint: true`): it waits for approval unless auto-approved. */
  readonly destructive?: boolean;
  execute(args: unknown, context: ToolContext): Promise<ToolOutput>;
}

/** A built-in tool whose arguments are typed from its TypeBox schema. */
export interface TypedTool<T extends TSchema> extends Tool {
  readonly parameters: T;
  execute(args: Static<T>, context: ToolContext): Promise<ToolOutput>;
}

/** Helps type inference: `defineTool({ parameters: Type.Object(...), execute(args) {...} })`. */
export function defineTool<T extends TSchema>(tool: TypedTool<T>): TypedTool<T> {
  return tool;
}

/** A tool failure whose message the model (and the user) may see. */
export class ToolError extends Error {
  override readonly name = "ToolError";
}

export type ToolSourceState = "starting" | "ready" | "down" | "closed";

export interface ToolSourceHealth {
  state: ToolSourceState;
  /** Why the source is down (or was, last), in words a user may read. */
  error?: string;
  /** How often the source was restarted after it went down. */
  restarts: number;
}

export interface ToolSource {
  /** `builtin`, or the MCP server's name: `GET /tools` shows it as each tool's source. */
  readonly name: string;
  /** `builtin`, `stdio` or `http`. */
  readonly kind: string;
  /** The tools it offers now; names are unique across sources (MCP tools are `<server>__<tool>`). */
  tools(): readonly Tool[];
  /** Whether a name belongs to this source even when the source cannot list it now (a server that is down). */
  owns(name: string): boolean;
  health(): ToolSourceHealth;
  /** Called after the list of tools changed. */
  onToolsChanged(listener: () => void): void;
  /** Resolves after the first attempt to get ready, whether or not it succeeded. */
  start(): Promise<void>;
  close(): Promise<void>;
}
