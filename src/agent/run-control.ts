// Stops runs and decides their tool calls waiting for approval: here when this node runs them, else on
// the node that does, over the control bus (docs/protocol.md sections 6.3 and 9.6).

import type { ControlBus } from "../broker/control-bus.ts";
import type { Logger } from "../observability/log.ts";
import { ErrorCode, ProtocolError, type ControlReply, type ControlRequest } from "../protocol/index.ts";
import type { Message, Storage } from "../storage/storage.ts";
import type { ApprovalDecision } from "./run.ts";
import type { RunRegistry } from "./run-registry.ts";
import { mayEdit, requireRole } from "../storage/thread-role.ts";

// How long a request to the node running a run may take before it counts as unreachable.
const CONTROL_TIMEOUT_MS = 5000;

const unfinished = (message: Message) => message.status === "streaming" || message.status === "awaiting_approval";

export interface RunControlDeps {
  runs: RunRegistry;
  storage: Storage;
  controlBus: ControlBus;
  logger: Logger;
}

export class RunControl {
  constructor(private readonly deps: RunControlDeps) {
    deps.controlBus.onRequest((request) => this.onRequest(request));
  }

  /**
   * Stops a run wherever it runs: `not_found` for an unknown or finished run, `forbidden` for one on a
   * thread the user neither owns nor edits (docs/protocol.md section 14).
   */
  async stop(userId: string, messageId: string): Promise<void> {
    if (this.deps.runs.get(messageId)) return this.stopHere(userId, messageId);
    const nodeId = await this.remoteNode(userId, messageId);
    await this.deps.controlBus.request(nodeId, { action: "stop", userId, messageId }, CONTROL_TIMEOUT_MS);
  }

  /** Approves or rejects a tool call waiting for approval, wherever its run is; errors as for stop, and `not_found` for no such call. */
  async decide(userId: string, messageId: string, callId: string, decision: ApprovalDecision): Promise<void> {
    if (this.deps.runs.get(messageId)) return this.decideHere(userId, messageId, callId, decision);
    const nodeId = await this.remoteNode(userId, messageId);
    await this.deps.controlBus.request(nodeId, { action: "decide", userId, messageId, callId, ...decision }, CONTROL_TIMEOUT_MS);
  }

  /**
   * Stops the run active on the user's thread, only that of `messageId` when given, and returns its
   * message id. `not_found` alike when there is none and when the user has no role on the thread, so
   * thread ids cannot be probed; `forbidden` for a viewer.
   */
  async stopThreadRun(userId: string, threadId: string, messageId?: string): Promise<string> {
    const local = this.deps.runs.onThread(threadId);
    const role = await this.deps.storage.threadRole(threadId, userId);
    const active = local ? { id: local.messageId, ownerId: local.ownerId } : await this.activeMessage(threadId);
    if (!active || role === undefined || (messageId !== undefined && active.id !== messageId)) {
      throw new ProtocolError(ErrorCode.notFound, `no active run on thread ${threadId}`);
    }
    // A viewer sees the run, so it is told it may not stop it (docs/protocol.md section 14.6).
    requireRole(role, "editor", threadId);
    await this.stop(userId, active.id);
    return active.id;
  }

  /** Stops the thread's run, if any, on whichever node, and waits (boundedly) for it to end: before the thread is deleted. */
  async stopThread(threadId: string): Promise<void> {
    const local = this.deps.runs.onThread(threadId);
    if (local) {
      local.controller.abort();
      await local.done;
      return;
    }
    const active = await this.activeMessage(threadId);
    if (!active) return;
    await this.stop(active.ownerId, active.id).catch((error) => this.deps.logger.warn("could not stop a remote run", { message_id: active.id, error }));
    const deadline = Date.now() + CONTROL_TIMEOUT_MS;
    while (Date.now() < deadline) {
      const message = await this.deps.storage.getMessage(active.id);
      if (!message || !unfinished(message)) return;
      await Bun.sleep(50);
    }
  }

  private async activeMessage(threadId: string): Promise<Message | undefined> {
    return (await this.deps.storage.listMessages(threadId)).find((message) => message.role === "assistant" && unfinished(message));
  }

  private async stopHere(userId: string, messageId: string): Promise<void> {
    (await this.editable(userId, messageId)).controller.abort();
  }

  private async decideHere(userId: string, messageId: string, callId: string, decision: ApprovalDecision): Promise<void> {
    const run = await this.editable(userId, messageId);
    if (!run.approvals.decide(callId, decision)) throw new ProtocolError(ErrorCode.notFound, `no tool call ${callId} is waiting for approval`);
  }

  /** This node's run of `messageId` when the user may control it: `not_found` when none, `forbidden` for a user who may not. */
  private async editable(userId: string, messageId: string) {
    const run = this.deps.runs.active(messageId);
    // The role is read again on the node that runs the run: a member removed meanwhile is refused here too.
    if (run.ownerId !== userId && !mayEdit(await this.deps.storage.threadRole(run.threadId, userId))) {
      throw new ProtocolError(ErrorCode.forbidden, "this run belongs to another user");
    }
    // The run may have ended while the role was read.
    return this.deps.runs.active(messageId);
  }

  /** The node running a run this node does not have; not_found or forbidden as for a local one. */
  private async remoteNode(userId: string, messageId: string): Promise<string> {
    const message = await this.deps.storage.getMessage(messageId);
    if (!message || !unfinished(message) || !message.nodeId || message.nodeId === this.deps.controlBus.nodeId) {
      throw new ProtocolError(ErrorCode.notFound, `no active run for message ${messageId}`);
    }
    if (message.ownerId !== userId && !mayEdit(await this.deps.storage.threadRole(message.threadId, userId))) {
      throw new ProtocolError(ErrorCode.forbidden, "this run belongs to another user");
    }
    return message.nodeId;
  }

  /** Requests from other nodes for the runs this node executes, checked against the schema by the bus. */
  private async onRequest(request: ControlRequest): Promise<ControlReply> {
    if (request.action === "stop") await this.stopHere(request.userId, request.messageId);
    else await this.decideHere(request.userId, request.messageId, request.callId, { approved: request.approved, reason: request.reason });
    return { ok: true };
  }
}
