// The built-in tools as a tool source: a fixed list that is always ready.

import type { Tool, ToolSource, ToolSourceHealth } from "../tool.ts";
import { calculatorTool } from "./calculator.ts";
import { currentTimeTool } from "./current-time.ts";
import { searchHistoryTool } from "./search-history.ts";

export function builtinTools(): Tool[] {
  return [currentTimeTool, calculatorTool, searchHistoryTool];
}

export class BuiltinSource implements ToolSource {
  readonly name = "builtin";
  readonly kind = "builtin";
  private readonly list: readonly Tool[];
  private readonly names: ReadonlySet<string>;

  constructor(tools: readonly Tool[] = builtinTools()) {
    this.list = tools;
    this.names = new Set(tools.map((tool) => tool.name));
  }

  tools(): readonly Tool[] {
    return this.list;
  }

  owns(name: string): boolean {
    return this.names.has(name);
  }

  health(): ToolSourceHealth {
    return { state: "ready", restarts: 0 };
  }

  onToolsChanged(): void {}

  async start(): Promise<void> {}

  async close(): Promise<void> {}
}
