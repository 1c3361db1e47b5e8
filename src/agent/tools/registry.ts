// The set of tools a run may call: lookup by name, schemas for the model, and argument validation.

import type { TSchema } from "@sinclair/typebox";
import { TypeCompiler, type TypeCheck } from "@sinclair/typebox/compiler";
import { calculatorTool } from "./calculator.ts";
import { currentTimeTool } from "./current-time.ts";
import { searchHistoryTool } from "./search-history.ts";
import type { ModelTool } from "../model/model-client.ts";
import type { Tool } from "./tool.ts";

export type { ModelTool };

export type ParsedArguments =
  | { ok: true; args: unknown }
  /** `parsed` is the parsed JSON, or the raw text when it is not valid JSON, as the `tool` event reports it. */
  | { ok: false; error: string; parsed: unknown };

interface RegisteredTool {
  tool: Tool;
  checker: TypeCheck<TSchema>;
}

// Enough for the model to fix its call; a schema with many fields should not flood its context.
const MAX_REPORTED_ERRORS = 5;

export class ToolRegistry {
  private readonly tools = new Map<string, RegisteredTool>();

  constructor(tools: readonly Tool[]) {
    for (const tool of tools) {
      if (this.tools.has(tool.name)) throw new Error(`duplicate tool name ${tool.name}`);
      // Compiled once here rather than per call: runs validate on every tool call.
      this.tools.set(tool.name, { tool, checker: TypeCompiler.Compile(tool.parameters) });
    }
  }

  get(name: string): Tool | undefined {
    return this.tools.get(name)?.tool;
  }

  list(): Tool[] {
    return [...this.tools.values()].map((registered) => registered.tool);
  }

  modelTools(): ModelTool[] {
    return this.list().map((tool) => ({
      name: tool.name,
      description: tool.description,
      // A JSON round trip drops TypeBox's symbol-keyed metadata, leaving what a provider accepts.
      parameters: JSON.parse(JSON.stringify(tool.parameters)) as Record<string, unknown>,
    }));
  }

  /** Parses and validates the argument text a model produced for a call to `name`. */
  parseArguments(name: string, raw: string): ParsedArguments {
    let parsed: unknown;
    let syntaxError: string | undefined;
    // Models often send nothing at all for a tool without parameters.
    if (raw.trim() === "") parsed = {};
    else {
      try {
        parsed = JSON.parse(raw);
      } catch (error) {
        parsed = raw;
        syntaxError = error instanceof Error ? error.message : String(error);
      }
    }

    const registered = this.tools.get(name);
    if (!registered) return { ok: false, error: `unknown tool ${name}`, parsed };
    if (syntaxError !== undefined) return { ok: false, error: `invalid arguments: not valid JSON (${syntaxError})`, parsed };
    if (registered.checker.Check(parsed)) return { ok: true, args: parsed };
    return { ok: false, error: `invalid arguments: ${describeErrors(registered.checker, parsed)}`, parsed };
  }
}

export function builtinTools(): Tool[] {
  return [currentTimeTool, calculatorTool, searchHistoryTool];
}

export const defaultToolRegistry = (): ToolRegistry => new ToolRegistry(builtinTools());

// One message per failing path: TypeBox reports e.g. both "required property" and "expected string"
// for a missing field, and the first says it best.
function describeErrors(checker: TypeCheck<TSchema>, value: unknown): string {
  const byPath = new Map<string, string>();
  for (const error of checker.Errors(value)) {
    if (byPath.size >= MAX_REPORTED_ERRORS) break;
    if (!byPath.has(error.path)) byPath.set(error.path, lowerFirst(error.message));
  }
  if (byPath.size === 0) return "do not match the schema";
  return [...byPath].map(([path, message]) => `${path || "/"} ${message}`).join("; ");
}

function lowerFirst(text: string): string {
  return text.charAt(0).toLowerCase() + text.slice(1);
}
