// The built-in agent: answers `chat` frames and REST sends by starting runs on threads, hands stop and
// approve to run control, and lets runs finish on shutdown. It publishes through the function it is
// given and knows no sockets.

import type { ControlBus } from "../broker/control-bus.ts";
import type { Config } from "../config.ts";
import type { Logger } from "../observability/log.ts";
import { ErrorCode, ProtocolError, threadChannel, type ChatAck, type ChatPayload, type RunAccepted, type UserNotice } from "../protocol/index.ts";
import { ActiveRunConflictError, RunLimitError, type Message, type Storage } from "../storage/storage.ts";
import type { Caller } from "./caller.ts";
import { SHUTDOWN, executeRun, type ExecuteRunDeps } from "./execute-run.ts";
import { modelMessages, titleFrom } from "./history.ts";
import type { ModelClient, ModelTool } from "./model/model-client.ts";
import type { ToolSet } from "./run.ts";
import { RunControl } from "./run-control.ts";
import type { Publish } from "./run-driver.ts";
import type { PresenceWriter } from "./run-presence.ts";
import { RunLeases } from "./run-leases.ts";
import { RunRegistry } from "./run-registry.ts";
import { UserNotices } from "./user-notices.ts";
import { requireRole } from "../storage/thread-role.ts";
import { ApprovalPolicy } from "./tools/approval-policy.ts";

export type AgentConfig = Pick<
  Config,
  | "systemPrompt"
  | "toolsRequireApproval"
  | "toolsAutoApprove"
  | "toolMaxChars"
  | "approvalTimeoutS"
  | "maxToolRounds"
  | "runTimeoutS"
  | "maxRunsPerUser"
  | "coalesceMs"
  | "checkpointMs"
  | "historyBudgetChars"
  | "leaseTtlS"
>;

export interface AgentServiceDeps {
  config: AgentConfig;
  storage: Storage;
  model: ModelClient;
  tools: ToolSet;
  logger: Logger;
  controlBus: ControlBus;
  /** Publishes the runs' events on their thread channels. */
  publish: Publish;
  /** The agent's presence on the threads of its runs. */
  presence?: PresenceWriter;
}

export interface StartRunRequest {
  caller: Caller;
  threadId?: string;
  content: string;
  useReasoning?: boolean;
  /** A `threadId` that does not exist yet is created for the caller (a client that names its threads, the AI SDK's chat id). */
  createThread?: boolean;
  /**
   * Answers the thread's last user message again instead of storing `content`: once the run is
   * stored, the messages after that user message (the last answer) are deleted. The thread must exist.
   */
  regenerate?: boolean;
  /** Tools the client runs (AG-UI front-end tools), offered to the model beside the server's for this run. */
  clientTools?: ModelTool[];
  /**
   * The client's results for the calls of its tools that the thread's last (assistant) message waits for:
   * stored on that message, and the run continues the conversation with them instead of storing `content`.
   */
  toolResults?: { callId: string; content: string }[];
}

/** The server's tools plus the client's for one run; the client's are announced, never executed. */
function withClientTools(tools: ToolSet, clientTools: ModelTool[]): ToolSet {
  const names = new Set(clientTools.map((tool) => tool.name));
  return {
    get: (name) => tools.get(name),
    modelTools: () => [...tools.modelTools(), ...clientTools],
    isClientTool: (name) => names.has(name),
    parseArguments: (name, raw) => {
      if (!names.has(name)) return tools.parseArguments(name, raw);
      if (raw.trim() === "") return { ok: true, args: {} };
      try {
        return { ok: true, args: JSON.parse(raw) };
      } catch (error) {
        return { ok: false, error: `invalid arguments: not valid JSON (${error instanceof Error ? error.message : String(error)})`, parsed: raw };
      }
    },
  };
}

interface WaitingCall {
  call_id: string;
  status?: string;
  result?: string;
  error?: string;
}

export class AgentService {
  readonly control: RunControl;
  readonly leases: RunLeases;
  /** Thread and run changes for the owner's other clients, published by every entry point that makes one. */
  readonly notices: UserNotices;
  readonly approvals: ApprovalPolicy;
  private readonly runs: RunRegistry;
  private readonly execution: ExecuteRunDeps;

  constructor(private readonly deps: AgentServiceDeps) {
    const { config, storage, logger, controlBus, publish } = deps;
    this.runs = new RunRegistry(config.approvalTimeoutS * 1000);
    this.notices = new UserNotices(publish, storage, logger);
    this.control = new RunControl({ runs: this.runs, storage, controlBus, logger });
    this.leases = new RunLeases({
      nodeId: controlBus.nodeId,
      storage,
      logger,
      leaseTtlMs: config.leaseTtlS * 1000,
      hasRuns: () => this.runs.size > 0,
      publish,
    });
    this.approvals = new ApprovalPolicy(config.toolsRequireApproval, config.toolsAutoApprove);
    this.execution = {
      config,
      storage,
      logger,
      model: deps.model,
      tools: deps.tools,
      publish,
      presence: deps.presence,
      requiresApproval: (name) => this.approvals.requiresApproval(name, deps.tools.get(name)),
      release: (run) => this.runs.release(run),
    };
  }

  get activeRuns(): number {
    return this.runs.size;
  }

  /** A `chat` frame (docs/protocol.md section 6), answered with its ack. */
  async handle(caller: Caller, payload: ChatPayload): Promise<ChatAck> {
    const { userId } = caller;
    switch (payload.action) {
      case "send":
        return this.startRun({ caller, threadId: payload.thread_id, content: payload.content, useReasoning: payload.use_reasoning });
      case "stop":
        await this.control.stop(userId, payload.message_id);
        return { status: "stopping", message_id: payload.message_id };
      case "approve":
        await this.control.decide(userId, payload.message_id, payload.call_id, { approved: true });
        return { status: "approved", message_id: payload.message_id, call_id: payload.call_id };
      case "reject":
        await this.control.decide(userId, payload.message_id, payload.call_id, { approved: false, reason: payload.reason || "rejected by the user" });
        return { status: "rejected", message_id: payload.message_id, call_id: payload.call_id };
    }
  }

  /**
   * Stores the user's message and the run's assistant message, within the user's run limit counted
   * on every node, and starts the run on the next tick.
   */
  async startRun(request: StartRunRequest): Promise<RunAccepted> {
    const { caller } = request;
    const { storage, config } = this.deps;
    const userId = caller.userId;
    const thread = request.threadId === undefined ? undefined : await storage.getThread(request.threadId);
    // Another user's thread answers as one that does not exist, so thread ids cannot be probed
    // (docs/protocol.md section 6.1); its owner and editors may run it, a viewer is forbidden (section 14).
    const creating = thread === undefined && request.createThread === true;
    if (request.threadId !== undefined && !creating) {
      requireRole(thread && (await storage.threadRole(thread.id, userId)), "editor", request.threadId);
    }
    // A run on a shared thread is stored as the owner's, like every message of the thread.
    const ownerId = thread?.ownerId ?? userId;
    const clientTools = request.clientTools ?? [];
    for (const tool of clientTools) {
      if (this.deps.tools.get(tool.name)) throw new ProtocolError(ErrorCode.invalidMessage, `the tool name ${tool.name} is taken by a server tool`);
    }
    const continued = request.toolResults ? await this.waitingCalls(thread?.id, request.toolResults) : undefined;
    const threadId = thread?.id ?? request.threadId ?? crypto.randomUUID();
    const channel = threadChannel(threadId);
    // Before anything is stored: a connection that may not follow the thread gets nothing started.
    caller.connection?.checkJoin(channel);
    // Regenerating: the last user message is answered again, and what follows it is the answer it replaces.
    const earlier = request.regenerate ? await storage.listMessages(threadId) : [];
    const lastQuestion = earlier.findLastIndex((message) => message.role === "user");
    if (request.regenerate && lastQuestion < 0) throw new ProtocolError(ErrorCode.invalidMessage, "the thread has no user message to answer again");
    const replaced = earlier.slice(lastQuestion + 1);
    const run = this.runs.reserve(threadId, ownerId, userId);
    const userMessageId = request.regenerate ? earlier[lastQuestion]!.id : crypto.randomUUID();
    let history: Message[];
    try {
      // The database holds the one-active-run rule and the run limit for every node; a refused send stores nothing.
      await storage.insertRun(
        {
          thread: thread ? undefined : { id: threadId, ownerId, title: titleFrom(request.content) },
          userMessage: request.regenerate || continued ? undefined : { id: userMessageId, threadId, ownerId, role: "user", content: request.content, status: "completed" },
          runMessage: {
            id: run.messageId,
            threadId,
            ownerId,
            role: "assistant",
            content: "",
            status: "streaming",
            nodeId: this.deps.controlBus.nodeId,
            leaseExpiresAt: this.leases.expiry(),
          },
        },
        { maxActiveRunsPerUser: config.maxRunsPerUser, now: new Date() },
      );
      if (continued) await storage.updateMessage(continued.messageId, { toolCalls: continued.toolCalls });
      if (thread && !thread.title && !request.regenerate && !continued) await storage.updateThread(threadId, { title: titleFrom(request.content) });
      // Only once the run is stored: a refused regenerate keeps the answer it would have replaced.
      for (const message of replaced) await storage.deleteMessage(message.id);
      history = (await storage.listMessages(threadId)).filter((message) => message.id !== run.messageId);
      await caller.connection?.join(channel);
    } catch (error) {
      // Also when insertRun failed: its commit may have gone through unseen, and the run must not stay unfinished.
      await storage.updateMessage(run.messageId, { status: "error", error: { message: "the run could not start" } }).catch(() => {});
      this.runs.release(run);
      run.finish();
      throw this.refusal(error);
    }
    const messages = modelMessages(config.systemPrompt, history, config.historyBudgetChars);
    const useReasoning = request.useReasoning ?? true;
    const execution = clientTools.length > 0 ? { ...this.execution, tools: withClientTools(this.deps.tools, clientTools) } : this.execution;
    if (!thread) this.notices.send(ownerId, { type: "thread_created", thread_id: threadId });
    // A new thread has no members yet; a shared one's members follow its runs too.
    const notify = (notice: UserNotice) => (thread ? this.notices.sendToThread(ownerId, notice) : this.notices.send(ownerId, notice));
    notify({ type: "run_started", thread_id: threadId, message_id: run.messageId });
    setTimeout(
      () =>
        executeRun(run, messages, useReasoning, execution).finally(() => {
          run.finish();
          notify({ type: "run_finished", thread_id: threadId, message_id: run.messageId });
        }),
      0,
    );
    return { status: "accepted", thread_id: threadId, user_message_id: userMessageId, message_id: run.messageId, channel };
  }

  /**
   * The thread's last message, which must be a finished assistant message whose client tool calls wait
   * for results, with `results` applied: each answered call `done`, any left unanswered `failed`.
   */
  private async waitingCalls(threadId: string | undefined, results: { callId: string; content: string }[]): Promise<{ messageId: string; toolCalls: WaitingCall[] }> {
    const last = threadId === undefined ? undefined : (await this.deps.storage.listMessages(threadId)).at(-1);
    const calls = last?.role === "assistant" && last.status === "completed" && Array.isArray(last.toolCalls) ? (last.toolCalls as WaitingCall[]) : [];
    const waiting = new Set(calls.filter((call) => call.status === "processing").map((call) => call.call_id));
    if (waiting.size === 0) throw new ProtocolError(ErrorCode.invalidMessage, "no tool call of the thread waits for a result");
    const byId = new Map<string, string>();
    for (const result of results) {
      if (!waiting.has(result.callId)) throw new ProtocolError(ErrorCode.invalidMessage, `no tool call ${result.callId} waits for a result`);
      byId.set(result.callId, result.content);
    }
    const toolCalls = calls.map((call): WaitingCall => {
      if (!waiting.has(call.call_id)) return call;
      const result = byId.get(call.call_id);
      return result === undefined ? { ...call, status: "failed", error: "the client returned no result" } : { ...call, status: "done", result };
    });
    return { messageId: last!.id, toolCalls };
  }

  /** Lets runs finish for `graceMs`, then aborts the rest; their messages end `interrupted`. */
  async shutdown(graceMs: number): Promise<void> {
    this.leases.stop();
    const runs = this.runs.all();
    if (runs.length === 0) return;
    const allDone = Promise.all(runs.map((run) => run.done));
    const timer = setTimeout(() => runs.forEach((run) => run.controller.abort(SHUTDOWN)), graceMs);
    await allDone;
    clearTimeout(timer);
  }

  /** The answer to a send that insertRun refused; other errors pass through. */
  private refusal(error: unknown): unknown {
    if (error instanceof ActiveRunConflictError) return new ProtocolError(ErrorCode.conflict, "a run is already active on this thread", undefined, { cause: error });
    if (error instanceof RunLimitError) {
      return new ProtocolError(ErrorCode.rateLimited, `at most ${error.limit} concurrent runs per user`, undefined, { cause: error });
    }
    return error;
  }
}
