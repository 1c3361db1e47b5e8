// The built-in agent: starts runs on threads, lets their owner stop and approve them, and answers
// the `chat` frames of the socket and the thread routes of REST.

import type { Config } from "../config.ts";
import type { ChatHandler, Gateway } from "../gateway/gateway.ts";
import type { Session } from "../gateway/session.ts";
import type { Logger } from "../observability/log.ts";
import { ErrorCode, ProtocolError, threadChannel, type ChatPayload } from "../protocol/index.ts";
import type { Storage } from "../storage/storage.ts";
import { Approvals } from "./approvals.ts";
import { modelMessages, titleFrom } from "./history.ts";
import type { ModelClient } from "./model/model-client.ts";
import { runAgent, type ToolSet } from "./run.ts";
import { RunDriver } from "./run-driver.ts";

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
>;

export interface AgentServiceDeps {
  config: AgentConfig;
  storage: Storage;
  gateway: Gateway;
  model: ModelClient;
  tools: ToolSet;
  logger: Logger;
}

export interface RunAccepted {
  status: "accepted";
  thread_id: string;
  user_message_id: string;
  message_id: string;
  channel: string;
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

export class AgentService implements ChatHandler {
  private readonly runsByThread = new Map<string, ActiveRun>();
  private readonly runsByMessage = new Map<string, ActiveRun>();
  private readonly runsPerUser = new Map<string, number>();
  private readonly approvalRequired: Set<string>;

  constructor(private readonly deps: AgentServiceDeps) {
    this.approvalRequired = new Set(deps.config.toolsRequireApproval);
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
        this.stop(userId, payload.message_id);
        return { status: "stopping", message_id: payload.message_id };
      case "approve":
        this.decide(userId, payload.message_id, payload.call_id, { approved: true });
        return { status: "approved", message_id: payload.message_id, call_id: payload.call_id };
      case "reject":
        this.decide(userId, payload.message_id, payload.call_id, { approved: false, reason: payload.reason || "rejected by the user" });
        return { status: "rejected", message_id: payload.message_id, call_id: payload.call_id };
    }
  }

  /** Stores the user's message, creates the assistant message, and starts the run on the next tick. */
  async startRun(request: StartRunRequest): Promise<RunAccepted> {
    const { userId, session } = request;
    let thread = request.threadId === undefined ? undefined : await this.deps.storage.getThread(request.threadId);
    if (request.threadId !== undefined) {
      if (!thread) throw new ProtocolError(ErrorCode.notFound, `no thread ${request.threadId}`);
      if (thread.ownerId !== userId) throw new ProtocolError(ErrorCode.forbidden, "this thread belongs to another user");
    }
    const threadId = thread?.id ?? crypto.randomUUID();
    const channel = threadChannel(threadId);
    if (session && !session.channels.has(channel) && session.channels.size >= this.deps.config.maxSubscriptions) {
      throw new ProtocolError(ErrorCode.tooManySubscriptions, `at most ${this.deps.config.maxSubscriptions} subscriptions per connection, the thread's included`);
    }
    // Checked and reserved in one synchronous step, so two sends cannot both pass.
    if (this.runsByThread.has(threadId)) throw new ProtocolError(ErrorCode.conflict, "a run is already active on this thread");
    const running = this.runsPerUser.get(userId) ?? 0;
    if (running >= this.deps.config.maxRunsPerUser) {
      throw new ProtocolError(ErrorCode.rateLimited, `at most ${this.deps.config.maxRunsPerUser} concurrent runs per user`);
    }
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
    this.runsPerUser.set(userId, running + 1);

    const { storage } = this.deps;
    let userMessageId: string;
    let history;
    try {
      if (!thread) thread = await storage.createThread({ id: threadId, ownerId: userId, title: titleFrom(request.content) });
      else if (!thread.title) await storage.updateThread(threadId, { title: titleFrom(request.content) });
      userMessageId = crypto.randomUUID();
      await storage.insertMessage({ id: userMessageId, threadId, ownerId: userId, role: "user", content: request.content, status: "completed" });
      history = await storage.listMessages(threadId);
      await storage.insertMessage({ id: run.messageId, threadId, ownerId: userId, role: "assistant", content: "", status: "streaming" });
      if (session) await this.deps.gateway.subscribe(session, channel, {});
    } catch (error) {
      await storage.updateMessage(run.messageId, { status: "error", error: { message: "the run could not start" } }).catch(() => {});
      this.release(run);
      finished();
      throw error;
    }
    const messages = modelMessages(this.deps.config.systemPrompt, history, this.deps.config.historyBudgetChars);
    setTimeout(() => this.execute(run, messages, request.useReasoning ?? true).finally(finished), 0);
    return { status: "accepted", thread_id: threadId, user_message_id: userMessageId, message_id: run.messageId, channel };
  }

  stop(userId: string, messageId: string): void {
    this.ownedRun(userId, messageId).controller.abort();
  }

  decide(userId: string, messageId: string, callId: string, decision: { approved: boolean; reason?: string }): void {
    const run = this.ownedRun(userId, messageId);
    if (!run.approvals.decide(callId, decision)) throw new ProtocolError(ErrorCode.notFound, `no tool call ${callId} is waiting for approval`);
  }

  /** Stops the thread's run, if any, and waits for it to end. */
  async stopThread(threadId: string): Promise<void> {
    const run = this.runsByThread.get(threadId);
    if (!run) return;
    run.controller.abort();
    await run.done;
  }

  /** Lets runs finish for `graceMs`, then aborts the rest; their messages end `interrupted`. */
  async shutdown(graceMs: number): Promise<void> {
    const runs = [...this.runsByMessage.values()];
    if (runs.length === 0) return;
    const allDone = Promise.all(runs.map((run) => run.done));
    const timer = setTimeout(() => runs.forEach((run) => run.controller.abort(SHUTDOWN)), graceMs);
    await allDone;
    clearTimeout(timer);
  }

  private ownedRun(userId: string, messageId: string): ActiveRun {
    const run = this.runsByMessage.get(messageId);
    if (!run) throw new ProtocolError(ErrorCode.notFound, `no active run for message ${messageId}`);
    if (run.ownerId !== userId) throw new ProtocolError(ErrorCode.forbidden, "this run belongs to another user");
    return run;
  }

  private release(run: ActiveRun): void {
    this.runsByThread.delete(run.threadId);
    this.runsByMessage.delete(run.messageId);
    const running = (this.runsPerUser.get(run.ownerId) ?? 1) - 1;
    if (running > 0) this.runsPerUser.set(run.ownerId, running);
    else this.runsPerUser.delete(run.ownerId);
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
