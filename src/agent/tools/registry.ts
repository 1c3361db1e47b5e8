// The tools a run may call, gathered from every source: lookup by name, schemas for the model, and
// argument validation. Rebuilt whenever a source's list changes (an MCP server's `tools/list_changed`).

import type { Config } from "../../config.ts";
import type { Logger } from "../../observability/log.ts";
import type { ModelTool } from "../model/model-client.ts";
import { compileValidator, type ArgumentValidator } from "./argument-validator.ts";
import { BuiltinSource } from "./builtin/builtin-source.ts";
import { McpSource } from "./mcp/mcp-source.ts";
import type { Tool, ToolSource } from "./tool.ts";

export type { ModelTool };

export type ParsedArguments =
  | { ok: true; args: unknown }
  /** `parsed` is the parsed JSON, or the raw text when it is not valid JSON, as the `tool` event reports it. */
  | { ok: false; error: string; parsed: unknown };

interface RegisteredTool {
  tool: Tool;
  source: ToolSource;
  validate: ArgumentValidator;
  modelTool: ModelTool;
}

// Ajv's messages list every failing path; the model needs the first few.
const MAX_ERROR_CHARS = 500;

export class ToolRegistry {
  private tools = new Map<string, RegisteredTool>();
  // Compiled once per tool object: runs validate on every call, and a list change keeps unchanged tools.
  private readonly compiled = new WeakMap<Tool, { validate: ArgumentValidator; modelTool: ModelTool }>();

  constructor(
    readonly sources: readonly ToolSource[],
    private readonly logger?: Logger,
  ) {
    this.rebuild(false);
    for (const source of sources) source.onToolsChanged(() => this.rebuild(true));
  }

  get(name: string): Tool | undefined {
    return this.tools.get(name)?.tool;
  }

  list(): Tool[] {
    return [...this.tools.values()].map((registered) => registered.tool);
  }

  /** Every tool offered now, with the source it comes from and the parameter schema the model gets. */
  entries(): { tool: Tool; source: ToolSource; parameters: Record<string, unknown> }[] {
    return [...this.tools.values()].map(({ tool, source, modelTool }) => ({ tool, source, parameters: modelTool.parameters }));
  }

  modelTools(): ModelTool[] {
    return [...this.tools.values()].map((registered) => registered.modelTool);
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
    if (!registered) return { ok: false, error: this.unknownToolError(name), parsed };
    if (syntaxError !== undefined) return { ok: false, error: `invalid arguments: not valid JSON (${syntaxError})`, parsed };
    const problem = registered.validate(parsed);
    if (problem === undefined) return { ok: true, args: parsed };
    return { ok: false, error: `invalid arguments: ${problem.slice(0, MAX_ERROR_CHARS)}`, parsed };
  }

  async start(): Promise<void> {
    await Promise.all(this.sources.map((source) => source.start()));
  }

  async close(): Promise<void> {
    await Promise.all(this.sources.map((source) => source.close()));
  }

  // A call of a tool whose server is down says so, rather than that the tool does not exist.
  private unknownToolError(name: string): string {
    const source = this.sources.find((candidate) => candidate.owns(name));
    const health = source?.health();
    if (!source || !health || health.state === "ready") return `unknown tool ${name}`;
    return `the tool server "${source.name}" is not available${health.error ? `: ${health.error}` : ""}`;
  }

  /** `changed`: a source's list changed since the registry was made. */
  private rebuild(changed: boolean): void {
    const tools = new Map<string, RegisteredTool>();
    for (const source of this.sources) {
      for (const tool of source.tools()) {
        if (tools.has(tool.name)) {
          // Among the tools a registry is made with, a programming error; later, two servers can map to
          // one name (`a` + `__` + `_b` and `a_` + `__` + `b`), and the first source keeps it.
          if (!changed) throw new Error(`duplicate tool name ${tool.name}`);
          this.logger?.warn("tool left out: another source offers a tool of the same name", { tool: tool.name, source: source.name });
          continue;
        }
        const compiled = this.compile(tool, source);
        if (compiled) tools.set(tool.name, { tool, source, ...compiled });
      }
    }
    this.tools = tools;
  }

  private compile(tool: Tool, source: ToolSource): { validate: ArgumentValidator; modelTool: ModelTool } | undefined {
    let compiled = this.compiled.get(tool);
    if (compiled) return compiled;
    try {
      compiled = {
        validate: compileValidator(tool.parameters),
        // A JSON round trip drops TypeBox's symbol-keyed metadata, leaving what a provider accepts.
        modelTool: { name: tool.name, description: tool.description, parameters: JSON.parse(JSON.stringify(tool.parameters)) as Record<string, unknown> },
      };
    } catch (error) {
      // A server's schema that cannot be compiled cannot be checked: its tool is not offered.
      this.logger?.warn("tool left out: its parameter schema cannot be compiled", { tool: tool.name, source: source.name, error });
      return undefined;
    }
    this.compiled.set(tool, compiled);
    return compiled;
  }
}

export { builtinTools } from "./builtin/builtin-source.ts";

export const defaultToolRegistry = (): ToolRegistry => new ToolRegistry([new BuiltinSource()]);

/** The built-in tools and one source per configured MCP server. */
export function configuredToolRegistry(config: Pick<Config, "mcpServers" | "mcpToolTimeoutS" | "mcpMaxMessageBytes" | "mcpRestartBaseMs">, logger: Logger): ToolRegistry {
  const servers = config.mcpServers.map(
    (server) =>
      new McpSource({
        server,
        logger,
        callTimeoutMs: config.mcpToolTimeoutS * 1000,
        maxMessageBytes: config.mcpMaxMessageBytes,
        restartBaseMs: config.mcpRestartBaseMs,
      }),
  );
  return new ToolRegistry([new BuiltinSource(), ...servers], logger);
}
