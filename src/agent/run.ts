// One agent run as an async sequence of steps: model turns, tool calls and approvals, ending in
// exactly one final step. Cancelled through the one AbortSignal that reaches the model and every tool.

import type { SourceView, ToolCallView, UsageView } from "../protocol/index.ts";
import type { Storage } from "../storage/storage.ts";
import { ModelError, type ModelClient, type ModelMessage, type ModelTool, type ModelUsage } from "./model/model-client.ts";
import type { Tool } from "./tools/tool.ts";

export type ToolStatus = "processing" | "awaiting_approval" | "rejected" | "done" | "failed";

export type FinalStep =
  | { type: "final"; outcome: "completed"; text: string; usage: UsageView | undefined }
  | { type: "final"; outcome: "cancelled"; text: string; usage: UsageView | undefined }
  | { type: "final"; outcome: "error"; text: string; usage: UsageView | undefined; message: string; details: Record<string, unknown> };

export type RunStep =
  | { type: "started" }
  | { type: "responding" }
  | { type: "reasoning"; delta: string }
  | { type: "response"; delta: string }
  | { type: "tool"; status: ToolStatus; tool: ToolCallView }
  | { type: "sources"; sources: SourceView[] }
  | FinalStep;

/** The tools a run may call; ToolRegistry implements it. */
export interface ToolSet {
  get(name: string): Tool | undefined;
  modelTools(): ModelTool[];
  parseArguments(name: string, raw: string): { ok: true; args: unknown } | { ok: false; error: string; parsed: unknown };
  /** A tool the client runs (AG-UI front-end tools): the run announces its call and ends without executing it. */
  isClientTool?(name: string): boolean;
}

export interface ApprovalDecision {
  approved: boolean;
  reason?: string;
}

export interface RunInput {
  threadId: string;
  userId: string;
  messages: ModelMessage[];
  useReasoning: boolean;
}

export interface RunDeps {
  model: ModelClient;
  tools: ToolSet;
  storage: Storage;
  requiresApproval(toolName: string): boolean;
  /** Resolves when the owner approves or rejects the call, or the approval times out (rejected). */
  awaitApproval(callId: string, signal: AbortSignal): Promise<ApprovalDecision>;
  maxToolRounds: number;
  /** The longest argument text and result (or error) of any tool call, in characters (TOOL_MAX_CHARS). */
  toolMaxChars: number;
  /** Says why the signal aborted when it was not a user's stop: a time limit or a shutdown. */
  abortMessage(signal: AbortSignal): { message: string; details: Record<string, unknown> } | undefined;
  onUnexpectedError(error: unknown): void;
}

function addUsage(total: UsageView | undefined, usage: ModelUsage | undefined): UsageView | undefined {
  if (!usage) return total;
  return {
    prompt_tokens: (total?.prompt_tokens ?? 0) + usage.prompt_tokens,
    completion_tokens: (total?.completion_tokens ?? 0) + usage.completion_tokens,
  };
}

export async function* runAgent(input: RunInput, deps: RunDeps, signal: AbortSignal): AsyncGenerator<RunStep, void, undefined> {
  const messages = [...input.messages];
  const modelTools = deps.tools.modelTools();
  let text = "";
  let usage: UsageView | undefined;
  let responding = false;

  const ended = (): FinalStep => {
    const reason = deps.abortMessage(signal);
    if (reason) return { type: "final", outcome: "error", text, usage, ...reason };
    return { type: "final", outcome: "cancelled", text, usage };
  };

  yield { type: "started" };
  try {
    for (let round = 0; ; round++) {
      if (round > deps.maxToolRounds) {
        yield {
          type: "final",
          outcome: "error",
          text,
          usage,
          message: `the model kept calling tools; the run stopped after ${deps.maxToolRounds} tool rounds`,
          details: { kind: "tool_rounds", max_tool_rounds: deps.maxToolRounds },
        };
        return;
      }
      let roundText = "";
      let toolCalls: { id: string; type: "function"; function: { name: string; arguments: string } }[] = [];
      for await (const event of deps.model.stream({ messages, tools: modelTools }, signal)) {
        if (event.type === "end") {
          toolCalls = event.toolCalls;
          usage = addUsage(usage, event.usage);
          continue;
        }
        if (event.type === "reasoning" && !input.useReasoning) continue;
        if (!responding) {
          responding = true;
          yield { type: "responding" };
        }
        if (event.type === "reasoning") {
          yield { type: "reasoning", delta: event.delta };
        } else {
          roundText += event.delta;
          text += event.delta;
          yield { type: "response", delta: event.delta };
        }
      }
      if (signal.aborted) return yield ended();
      if (toolCalls.length === 0) {
        yield { type: "final", outcome: "completed", text, usage };
        return;
      }
      messages.push({ role: "assistant", content: roundText || null, tool_calls: toolCalls });
      // Calls of client tools are announced and left `processing`: the run ends after this round, and the
      // client's result comes with its next run.
      let awaitingClient = false;
      for (const call of toolCalls) {
        if (deps.tools.isClientTool?.(call.function.name)) {
          const parsed = deps.tools.parseArguments(call.function.name, call.function.arguments);
          const view: ToolCallView = { call_id: call.id, name: call.function.name, arguments: parsed.ok ? parsed.args : parsed.parsed };
          yield { type: "tool", status: "processing", tool: view };
          if (parsed.ok) {
            awaitingClient = true;
            continue;
          }
          yield { type: "tool", status: "failed", tool: { ...view, error: parsed.error } };
          messages.push({ role: "tool", tool_call_id: call.id, content: `Error: ${parsed.error}` });
          continue;
        }
        const outcome = yield* callTool(call.id, call.function.name, call.function.arguments, input, deps, signal);
        if (signal.aborted) return yield ended();
        messages.push({ role: "tool", tool_call_id: call.id, content: outcome });
      }
      if (awaitingClient) {
        yield { type: "final", outcome: "completed", text, usage };
        return;
      }
    }
  } catch (error) {
    if (signal.aborted) return yield ended();
    if (error instanceof ModelError) {
      yield { type: "final", outcome: "error", text, usage, message: error.message, details: { source: "model", ...error.details } };
      return;
    }
    deps.onUnexpectedError(error);
    yield { type: "final", outcome: "error", text, usage, message: "the run failed on an internal error", details: { source: "internal" } };
  }
}

/** Runs one tool call through approval, validation and execution; returns what the model is told. */
async function* callTool(
  callId: string,
  name: string,
  rawArguments: string,
  input: RunInput,
  deps: RunDeps,
  signal: AbortSignal,
): AsyncGenerator<RunStep, string, undefined> {
  const limit = deps.toolMaxChars;
  // Arguments over the limit are neither parsed nor repeated in events: the same bound for every tool.
  const parsed =
    rawArguments.length > limit
      ? { ok: false as const, error: `invalid arguments: ${rawArguments.length} characters, over the limit of ${limit}`, parsed: `[${rawArguments.length} characters not shown]` }
      : deps.tools.parseArguments(name, rawArguments);
  const view: ToolCallView = { call_id: callId, name, arguments: parsed.ok ? parsed.args : parsed.parsed };
  const tool = deps.tools.get(name);
  if (!parsed.ok || !tool) {
    const error = parsed.ok ? `unknown tool ${name}` : parsed.error;
    yield { type: "tool", status: "processing", tool: view };
    yield { type: "tool", status: "failed", tool: { ...view, error } };
    return `Error: ${error}`;
  }
  if (deps.requiresApproval(name)) {
    // Waiting starts before the announcement: an approve that answers the event at once (from any node)
    // must find the call waiting, though the driver still stores the step before resuming this run.
    const decided = deps.awaitApproval(callId, signal);
    yield { type: "tool", status: "awaiting_approval", tool: view };
    const decision = await decided;
    if (signal.aborted) return "Error: the run was stopped";
    if (!decision.approved) {
      const reason = decision.reason ?? "rejected by the user";
      yield { type: "tool", status: "rejected", tool: { ...view, error: reason } };
      return `The user did not allow this tool call (${reason}). Do not call it again for this request.`;
    }
  }
  yield { type: "tool", status: "processing", tool: view };
  try {
    const output = await tool.execute(parsed.args as never, { signal, userId: input.userId, threadId: input.threadId, storage: deps.storage });
    if (signal.aborted) return "Error: the run was stopped";
    if (output.sources && output.sources.length > 0) yield { type: "sources", sources: output.sources };
    const result = cutText(output.result, limit, "result");
    yield { type: "tool", status: "done", tool: { ...view, result } };
    return result;
  } catch (error) {
    if (signal.aborted) return "Error: the run was stopped";
    const message = error instanceof Error && error.name === "ToolError" ? cutText(error.message, limit, "error") : "the tool failed";
    if (!(error instanceof Error && error.name === "ToolError")) deps.onUnexpectedError(error);
    yield { type: "tool", status: "failed", tool: { ...view, error: message } };
    return `Error: ${message}`;
  }
}

/** The text within `limit` characters, with a note saying how much was left out when it was cut. */
export function cutText(text: string, limit: number, what: string): string {
  if (text.length <= limit) return text;
  return `${text.slice(0, limit)}\n[agentwire: the tool's ${what} was ${text.length} characters; cut to the first ${limit}]`;
}
