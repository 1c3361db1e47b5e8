// Token buckets of docs/protocol.md section 8.3: frames per connection with the abuse rules,
// and publish bytes. A connection's buckets live on the session itself (one object less per
// connection); the policies are shared.

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
  /** The record of drops, made at the first one where the state is kept per connection (most never drop). */
  readonly drops: DropRecord;
}

/** Since when frames are dropped without a quiet second, and when the last drop and warning were. */
export interface DropRecord {
  abuseSince: number;
  lastDropAt: number;
  lastWarnAt: number;
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
  const drops = state.drops;
  if (now - drops.lastDropAt > 1000) drops.abuseSince = now;
  drops.lastDropAt = now;
  if (now - drops.abuseSince >= policy.closeAfterMs) return "close";
  if (now - drops.lastWarnAt >= 1000) {
    drops.lastWarnAt = now;
    return "drop-and-warn";
  }
  return "drop";
}

/** Publish bytes: `perSecond` refill, `burst` capacity (PUBLISH_BYTES_PER_S, PUBLISH_BURST_BYTES). */
export interface BytePolicy {
  perSecond: number;
  burst: number;
}

export interface ByteBucket {
  /** Bytes that may be published now. */
  publishBytes: number;
  publishRefilledAt: number;
}

/**
 * Take `bytes` from the bucket at `now` (ms); false, taking nothing, when there are not enough. A refusal
 * costs nothing, so a publisher that backs off is not held back further by what it was refused.
 */
export function takeBytes(bucket: ByteBucket, policy: BytePolicy, bytes: number, now: number): boolean {
  const elapsed = now - bucket.publishRefilledAt;
  if (elapsed > 0) {
    bucket.publishBytes = Math.min(policy.burst, bucket.publishBytes + (elapsed * policy.perSecond) / 1000);
    bucket.publishRefilledAt = now;
  }
  if (bucket.publishBytes < bytes) return false;
  bucket.publishBytes -= bytes;
  return true;
}

/** Whether the bucket would be full at `now`: then it holds nothing a fresh one would not. */
export function isRefilled(bucket: ByteBucket, policy: BytePolicy, now: number): boolean {
  return bucket.publishBytes + ((now - bucket.publishRefilledAt) * policy.perSecond) / 1000 >= policy.burst;
}
