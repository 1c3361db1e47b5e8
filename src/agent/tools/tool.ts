// What a tool is: a TypeBox parameter schema, an execute function that honours the run's abort
// signal, and an optional list of citations that becomes a `sources` event.

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

export interface Tool<T extends TSchema = TSchema> {
  name: string;
  description: string;
  parameters: T;
  execute(args: Static<T>, context: ToolContext): Promise<ToolOutput>;
}

/** Helps type inference: `defineTool({ parameters: Type.Object(...), execute(args) {...} })`. */
export function defineTool<T extends TSchema>(tool: Tool<T>): Tool<T> {
  return tool;
}

/** A tool failure whose message the model (and the user) may see. */
export class ToolError extends Error {
  override readonly name = "ToolError";
}
