// The built-in agent: starts runs on threads, lets their owner stop and approve them, and answers
// the `chat` frames of the socket and the thread routes of REST.

import type { ControlBus, ControlMessage } from "../broker/control-bus.ts";
import type { Config } from "../config.ts";
import type { ChatHandler, Gateway } from "../gateway/gateway.ts";
import type { Session } from "../gateway/session.ts";
import type { Logger } from "../observability/log.ts";
import { ErrorCode, ProtocolError, threadChannel, type ChatPayload, type RunAccepted, type RunEventPayload } from "../protocol/index.ts";
import { ActiveRunConflictError, RunLimitError, type Message, type Storage } from "../storage/storage.ts";
import { Approvals } from "./approvals.ts";
import { modelMessages, titleFrom } from "./history.ts";
import type { ModelClient } from "./model/model-client.ts";
import { runAgent, type ToolSet } from "./run.ts";
import { RunDriver } from "./run-driver.ts";
import { RunLeases } from "./run-leases.ts";

export type AgentConfig = Pick<
  Config,
  | "systemPrompt"
  | "toolsRequireApproval"
  | "approvalTimeoutS"
  | "maxToolRounds"
  | "runTimeoutS"
  | "maxRunsPerUser"
  | "coalesceMs"
  | "checkpointMs"
  | "historyBudgetChars"
  | "maxSubscriptions"
  | "leaseTtlS"
>;

export interface AgentServiceDeps {
  config: AgentConfig;
  storage: Storage;
  gateway: Gateway;
  model: ModelClient;
  tools: ToolSet;
  logger: Logger;
  controlBus: ControlBus;
}

export interface StartRunRequest {
  userId: string;
  threadId?: string;
  content: string;
  useReasoning?: boolean;
  /** The socket that sent it: subscribed to the thread channel before the first event. */
  session?: Session;
}

interface ActiveRun {
  threadId: string;
  ownerId: string;
  messageId: string;
  controller: AbortController;
  approvals: Approvals;
  done: Promise<void>;
}

const SHUTDOWN = "shutdown";
// How long a request to the node running a run may take before it counts as unreachable.
const CONTROL_TIMEOUT_MS = 5000;
const unfinished = (message: Message) => message.status === "streaming" || message.status === "awaiting_approval";

type ControlAction =
  | { action: "stop"; userId: string; messageId: string }
  | { action: "decide"; userId: string; messageId: string; callId: string; approved: boolean; reason?: string };

export class AgentService implements ChatHandler {
  private readonly runsByThread = new Map<string, ActiveRun>();
  private readonly runsByMessage = new Map<string, ActiveRun>();
  private readonly approvalRequired: Set<string>;
  readonly leases: RunLeases;

  constructor(private readonly deps: AgentServiceDeps) {
    this.approvalRequired = new Set(deps.config.toolsRequireApproval);
    this.leases = new RunLeases({
      nodeId: deps.controlBus.nodeId,
      storage: deps.storage,
      logger: deps.logger,
      leaseTtlMs: deps.config.leaseTtlS * 1000,
      hasRuns: () => this.runsByMessage.size > 0,
      onReaped: (message) => this.publishReaped(message),
    });
    deps.controlBus.onRequest((message) => this.onControl(message as ControlAction));
  }

  get activeRuns(): number {
    return this.runsByMessage.size;
  }

  async handle(session: Session, payload: ChatPayload): Promise<Record<string, unknown>> {
    const userId = session.principal!.sub;
    switch (payload.action) {
      case "send":
        return { ...(await this.startRun({ userId, threadId: payload.thread_id, content: payload.content, useReasoning: payload.use_reasoning, session })) };
      case "stop":
        await this.stop(userId, payload.message_id);
        return { status: "stopping", message_id: payload.message_id };
      case "approve":
        await this.decide(userId, payload.message_id, payload.call_id, { approved: true });
        return { status: "approved", message_id: payload.message_id, call_id: payload.call_id };
      case "reject":
        await this.decide(userId, payload.message_id, payload.call_id, { approved: false, reason: payload.reason || "rejected by the user" });
        return { status: "rejected", message_id: payload.message_id, call_id: payload.call_id };
    }
  }

  /**
   * Stores the user's message and the run's assistant message, within the user's run limit counted
   * on every node, and starts the run on the next tick.
   */
  async startRun(request: StartRunRequest): Promise<RunAccepted> {
    const { userId, session } = request;
    const thread = request.threadId === undefined ? undefined : await this.deps.storage.getThread(request.threadId);
    // Another user's thread answers as one that does not exist, so thread ids cannot be probed
    // (docs/protocol.md, chat).
    if (request.threadId !== undefined && thread?.ownerId !== userId) throw new ProtocolError(ErrorCode.notFound, `no thread ${request.threadId}`);
    const threadId = thread?.id ?? crypto.randomUUID();
    const channel = threadChannel(threadId);
    if (session && !session.isSubscribed(channel) && session.subscriptionCount >= this.deps.config.maxSubscriptions) {
      throw new ProtocolError(ErrorCode.tooManySubscriptions, `at most ${this.deps.config.maxSubscriptions} subscriptions per connection, the thread's included`);
    }
    // Checked and reserved in one synchronous step, so two sends cannot both pass.
    if (this.runsByThread.has(threadId)) throw new ProtocolError(ErrorCode.conflict, "a run is already active on this thread");
    let finished!: () => void;
    const run: ActiveRun = {
      threadId,
      ownerId: userId,
      messageId: crypto.randomUUID(),
      controller: new AbortController(),
      approvals: new Approvals(this.deps.config.approvalTimeoutS * 1000),
      done: new Promise((resolve) => (finished = resolve)),
    };
    this.runsByThread.set(threadId, run);
    this.runsByMessage.set(run.messageId, run);

    const { storage, config } = this.deps;
    const userMessageId = crypto.randomUUID();
    let history: Message[];
    try {
      // The database holds the one-active-run rule and the run limit for every node; a refused send stores nothing.
      await storage.insertRun(
        {
          thread: thread ? undefined : { id: threadId, ownerId: userId, title: titleFrom(request.content) },
          userMessage: { id: userMessageId, threadId, ownerId: userId, role: "user", content: request.content, status: "completed" },
          runMessage: {
            id: run.messageId,
            threadId,
            ownerId: userId,
            role: "assistant",
            content: "",
            status: "streaming",
            nodeId: this.deps.controlBus.nodeId,
            leaseExpiresAt: this.leases.expiry(),
          },
        },
        { maxActiveRunsPerUser: config.maxRunsPerUser, now: new Date() },
      );
      if (thread && !thread.title) await storage.updateThread(threadId, { title: titleFrom(request.content) });
      history = (await storage.listMessages(threadId)).filter((message) => message.id !== run.messageId);
      // A connection already on the thread stays on it as it is: subscribing again would start it over
      // from the current seq and could skip an event still on its way to it.
      if (session && !session.isSubscribed(channel)) await this.deps.gateway.subscribe(session, channel, {});
    } catch (error) {
      // Also when insertRun failed: its commit may have gone through unseen, and the run must not stay unfinished.
      await storage.updateMessage(run.messageId, { status: "error", error: { message: "the run could not start" } }).catch(() => {});
      this.release(run);
      finished();
      throw this.refusal(error);
    }
    const messages = modelMessages(config.systemPrompt, history, config.historyBudgetChars);
    setTimeout(() => this.execute(run, messages, request.useReasoning ?? true).finally(finished), 0);
    return { status: "accepted", thread_id: threadId, user_message_id: userMessageId, message_id: run.messageId, channel };
  }

  /** Stops a run, on this node or, through the control bus, on the node running it. */
  async stop(userId: string, messageId: string): Promise<void> {
    const local = this.runsByMessage.get(messageId);
    if (local) return this.stopLocal(userId, messageId);
    const nodeId = await this.remoteNode(userId, messageId);
    await this.deps.controlBus.request(nodeId, { action: "stop", userId, messageId }, CONTROL_TIMEOUT_MS);
  }

  /** Approves or rejects a pending tool call, wherever its run is. */
  async decide(userId: string, messageId: string, callId: string, decision: { approved: boolean; reason?: string }): Promise<void> {
    if (this.runsByMessage.has(messageId)) return this.decideLocal(userId, messageId, callId, decision);
    const nodeId = await this.remoteNode(userId, messageId);
    await this.deps.controlBus.request(nodeId, { action: "decide", userId, messageId, callId, ...decision }, CONTROL_TIMEOUT_MS);
  }

  /** Stops the thread's run, if any, on whichever node, and waits (boundedly) for it to end. */
  async stopThread(threadId: string): Promise<void> {
    const local = this.runsByThread.get(threadId);
    if (local) {
      local.controller.abort();
      await local.done;
      return;
    }
    const active = (await this.deps.storage.listMessages(threadId)).find((message) => message.role === "assistant" && unfinished(message));
    if (!active) return;
    await this.stop(active.ownerId, active.id).catch((error) => this.deps.logger.warn("could not stop a remote run", { message_id: active.id, error }));
    const deadline = Date.now() + CONTROL_TIMEOUT_MS;
    while (Date.now() < deadline) {
      const message = await this.deps.storage.getMessage(active.id);
      if (!message || !unfinished(message)) return;
      await Bun.sleep(50);
    }
  }

  /** Lets runs finish for `graceMs`, then aborts the rest; their messages end `interrupted`. */
  async shutdown(graceMs: number): Promise<void> {
    this.leases.stop();
    const runs = [...this.runsByMessage.values()];
    if (runs.length === 0) return;
    const allDone = Promise.all(runs.map((run) => run.done));
    const timer = setTimeout(() => runs.forEach((run) => run.controller.abort(SHUTDOWN)), graceMs);
    await allDone;
    clearTimeout(timer);
  }

  private stopLocal(userId: string, messageId: string): void {
    this.ownedRun(userId, messageId).controller.abort();
  }

  private decideLocal(userId: string, messageId: string, callId: string, decision: { approved: boolean; reason?: string }): void {
    const run = this.ownedRun(userId, messageId);
    if (!run.approvals.decide(callId, decision)) throw new ProtocolError(ErrorCode.notFound, `no tool call ${callId} is waiting for approval`);
  }

  /** The node running a run this node does not have; not_found or forbidden as for a local one. */
  private async remoteNode(userId: string, messageId: string): Promise<string> {
    const message = await this.deps.storage.getMessage(messageId);
    if (!message || !unfinished(message) || !message.nodeId || message.nodeId === this.deps.controlBus.nodeId) {
      throw new ProtocolError(ErrorCode.notFound, `no active run for message ${messageId}`);
    }
    if (message.ownerId !== userId) throw new ProtocolError(ErrorCode.forbidden, "this run belongs to another user");
    return message.nodeId;
  }

  /** Requests from other nodes for the runs this node executes. */
  private async onControl(request: ControlAction): Promise<ControlMessage> {
    if (request.action === "stop") this.stopLocal(request.userId, request.messageId);
    else this.decideLocal(request.userId, request.messageId, request.callId, { approved: request.approved, reason: request.reason });
    return { ok: true };
  }

  /** The final event of a run whose node died, published by the node that reaped it. */
  private async publishReaped(message: Message): Promise<void> {
    const error = { message: "the node running this answer stopped before it finished", details: { kind: "node_lost" } };
    const payload: RunEventPayload = {
      type: "error",
      status: "error",
      message: error.message,
      timestamp: Date.now() / 1000,
      final_message: true,
      message_id: message.id,
      thread_id: message.threadId,
      error_details: error.details,
    };
    await this.deps.storage.updateMessage(message.id, { error });
    await this.deps.gateway.publish(threadChannel(message.threadId), JSON.stringify(payload));
  }

  /** The answer to a send that insertRun refused; other errors pass through. */
  private refusal(error: unknown): unknown {
    if (error instanceof ActiveRunConflictError) return new ProtocolError(ErrorCode.conflict, "a run is already active on this thread", undefined, { cause: error });
    if (error instanceof RunLimitError) {
      return new ProtocolError(ErrorCode.rateLimited, `at most ${error.limit} concurrent runs per user`, undefined, { cause: error });
    }
    return error;
  }

  private ownedRun(userId: string, messageId: string): ActiveRun {
    const run = this.runsByMessage.get(messageId);
    if (!run) throw new ProtocolError(ErrorCode.notFound, `no active run for message ${messageId}`);
    if (run.ownerId !== userId) throw new ProtocolError(ErrorCode.forbidden, "this run belongs to another user");
    return run;
  }

  /** Forgets a run; safe to call twice. */
  private release(run: ActiveRun): void {
    if (this.runsByMessage.get(run.messageId) !== run) return;
    this.runsByThread.delete(run.threadId);
    this.runsByMessage.delete(run.messageId);
  }

  private async execute(run: ActiveRun, messages: ReturnType<typeof modelMessages>, useReasoning: boolean): Promise<void> {
    const { config, storage, gateway, logger, model, tools } = this.deps;
    const log = logger.child({ thread_id: run.threadId, message_id: run.messageId });
    const timeLimit = AbortSignal.timeout(config.runTimeoutS * 1000);
    const signal = AbortSignal.any([run.controller.signal, timeLimit]);
    const driver = new RunDriver(run.threadId, run.messageId, {
      publish: (channel, payload) => gateway.publish(channel, payload),
      storage,
      logger: log,
      coalesceMs: config.coalesceMs,
      checkpointMs: config.checkpointMs,
      // Released before the final event goes out, so a send reacting to it is not a conflict.
      onFinalStored: () => this.release(run),
    });
    const steps = runAgent(
      { threadId: run.threadId, userId: run.ownerId, messages, useReasoning },
      {
        model,
        tools,
        storage,
        maxToolRounds: config.maxToolRounds,
        requiresApproval: (name) => this.approvalRequired.has(name),
        awaitApproval: (callId, abort) => run.approvals.wait(callId, abort),
        abortMessage: () => {
          if (run.controller.signal.reason === SHUTDOWN) {
            return { message: "the server shut down before the run finished", details: { kind: "shutdown" } };
          }
          if (timeLimit.aborted) return { message: `the run passed its time limit of ${config.runTimeoutS} s`, details: { kind: "run_timeout" } };
          return undefined;
        },
        onUnexpectedError: (error) => log.error("run failed unexpectedly", { error }),
      },
      signal,
    );
    try {
      const final = await driver.drive(steps);
      if (run.controller.signal.reason === SHUTDOWN) await storage.updateMessage(run.messageId, { status: "interrupted" });
      log.debug("run finished", { outcome: final.outcome });
    } catch (error) {
      // The broker or the database failed under the run: nothing more can be published, so the
      // stored message carries the outcome.
      log.error("run could not be published or stored", { error });
      await storage
        .updateMessage(run.messageId, { ...driver.state.patch(), status: "error", error: { message: "the run was cut off by a server failure" } })
        .catch((storeError) => log.error("could not mark the run as failed", { error: storeError }));
    } finally {
      this.release(run);
    }
  }
}
