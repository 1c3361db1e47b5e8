// Per-connection token bucket with the abuse rules of PROTOCOL.md section 8.

export type RateDecision = "accept" | "drop" | "drop-and-warn" | "close";

export class RateLimiter {
  private tokens: number;
  private refilledAt: number;
  private abuseSince = 0;
  private lastDropAt = -Infinity;
  private lastWarnAt = -Infinity;

  constructor(
    private readonly perSecond: number,
    private readonly burst: number,
    private readonly closeAfterMs: number,
    now: number,
  ) {
    this.tokens = burst;
    this.refilledAt = now;
  }

  /** Take one token for a frame arriving at `now` (ms) and say what to do with it. */
  take(now: number): RateDecision {
    const elapsed = now - this.refilledAt;
    if (elapsed > 0) {
      this.tokens = Math.min(this.burst, this.tokens + (elapsed * this.perSecond) / 1000);
      this.refilledAt = now;
    }
    if (this.tokens >= 1) {
      this.tokens -= 1;
      return "accept";
    }
    // Abuse is a run of drops with no quiet second between them.
    if (now - this.lastDropAt > 1000) this.abuseSince = now;
    this.lastDropAt = now;
    if (now - this.abuseSince >= this.closeAfterMs) return "close";
    if (now - this.lastWarnAt >= 1000) {
      this.lastWarnAt = now;
      return "drop-and-warn";
    }
    return "drop";
  }
}
