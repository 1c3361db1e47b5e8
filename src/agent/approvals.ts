// Pending tool approvals of one run, keyed by call id: a request/response pair with a timeout.

import type { ApprovalDecision } from "./run.ts";

export class Approvals {
  private readonly waiting = new Map<string, (decision: ApprovalDecision) => void>();

  constructor(private readonly timeoutMs: number) {}

  /** Waits for approve/reject; a timeout or the run's abort count as rejected. */
  wait(callId: string, signal: AbortSignal): Promise<ApprovalDecision> {
    return new Promise((resolve) => {
      const finish = (decision: ApprovalDecision) => {
        clearTimeout(timer);
        signal.removeEventListener("abort", onAbort);
        this.waiting.delete(callId);
        resolve(decision);
      };
      const onAbort = () => finish({ approved: false, reason: "the run was stopped" });
      const timer = setTimeout(() => finish({ approved: false, reason: "approval timed out" }), this.timeoutMs);
      signal.addEventListener("abort", onAbort, { once: true });
      this.waiting.set(callId, finish);
    });
  }

  /** Resolves a pending call; false when no call with that id is waiting. */
  decide(callId: string, decision: ApprovalDecision): boolean {
    const finish = this.waiting.get(callId);
    if (!finish) return false;
    finish(decision);
    return true;
  }
}
