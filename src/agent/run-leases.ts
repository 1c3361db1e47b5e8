// Keeps this node's runs alive in storage and reaps the runs of nodes that died: their messages end
// `interrupted` and their thread's watchers get a final event.

import type { Logger } from "../observability/log.ts";
import { threadChannel, type RunEventPayload } from "../protocol/index.ts";
import type { Message, Storage } from "../storage/storage.ts";
import type { Publish } from "./run-driver.ts";

export interface RunLeasesDeps {
  nodeId: string;
  storage: Storage;
  logger: Logger;
  leaseTtlMs: number;
  /** Publishes the final event of a reaped run (its node can no longer do it). */
  publish: Publish;
  /** Whether this node has runs whose leases need renewing. */
  hasRuns(): boolean;
}

export class RunLeases {
  private readonly renewTimer: Timer;
  private readonly reapTimer: Timer;
  private reaping = false;

  constructor(private readonly deps: RunLeasesDeps) {
    // Renewed three times per lease, so one slow write does not let a live run expire.
    this.renewTimer = setInterval(() => void this.renew(), deps.leaseTtlMs / 3);
    this.reapTimer = setInterval(() => void this.reap(), deps.leaseTtlMs / 2);
    this.renewTimer.unref();
    this.reapTimer.unref();
  }

  /** The lease expiry to give a run starting now. */
  expiry(): Date {
    return new Date(Date.now() + this.deps.leaseTtlMs);
  }

  async renew(): Promise<void> {
    if (!this.deps.hasRuns()) return;
    await this.deps.storage.renewLeases(this.deps.nodeId, this.expiry()).catch((error) => this.deps.logger.warn("lease renewal failed", { error }));
  }

  /** Reaps runs whose lease expired; returns how many. */
  async reap(): Promise<number> {
    if (this.reaping) return 0;
    this.reaping = true;
    try {
      const reaped = await this.deps.storage.reapExpiredRuns(new Date());
      for (const message of reaped) {
        this.deps.logger.warn("reaped a run whose node stopped renewing its lease", { message_id: message.id, thread_id: message.threadId, node: message.nodeId });
        await this.announce(message).catch((error) => this.deps.logger.warn("could not publish the end of a reaped run", { message_id: message.id, error }));
      }
      return reaped.length;
    } catch (error) {
      this.deps.logger.warn("reaping expired runs failed", { error });
      return 0;
    } finally {
      this.reaping = false;
    }
  }

  /** The final event of a run whose node died, published in its stead (docs/protocol.md section 9.6). */
  private async announce(message: Message): Promise<void> {
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
    await this.deps.publish(threadChannel(message.threadId), JSON.stringify(payload));
  }

  stop(): void {
    clearInterval(this.renewTimer);
    clearInterval(this.reapTimer);
  }
}
