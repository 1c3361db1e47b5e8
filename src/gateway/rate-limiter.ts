// Per-connection token bucket with the abuse rules of PROTOCOL.md section 8. The bucket's state
// lives on the session itself (one object less per connection); the policy is shared.

export type RateDecision = "accept" | "drop" | "drop-and-warn" | "close";

export interface RatePolicy {
  perSecond: number;
  burst: number;
  /** A run of drops with no quiet second between them this long closes the connection. */
  closeAfterMs: number;
}

export interface RateState {
  tokens: number;
  refilledAt: number;
  abuseSince: number;
  lastDropAt: number;
  lastWarnAt: number;
}

export function initialRateState(policy: RatePolicy, now: number): RateState {
  return { tokens: policy.burst, refilledAt: now, abuseSince: 0, lastDropAt: -Infinity, lastWarnAt: -Infinity };
}

/** Take one token for a frame arriving at `now` (ms) and say what to do with it. */
export function takeToken(state: RateState, policy: RatePolicy, now: number): RateDecision {
  const elapsed = now - state.refilledAt;
  if (elapsed > 0) {
    state.tokens = Math.min(policy.burst, state.tokens + (elapsed * policy.perSecond) / 1000);
    state.refilledAt = now;
  }
  if (state.tokens >= 1) {
    state.tokens -= 1;
    return "accept";
  }
  if (now - state.lastDropAt > 1000) state.abuseSince = now;
  state.lastDropAt = now;
  if (now - state.abuseSince >= policy.closeAfterMs) return "close";
  if (now - state.lastWarnAt >= 1000) {
    state.lastWarnAt = now;
    return "drop-and-warn";
  }
  return "drop";
}
