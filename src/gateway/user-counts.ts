// Connections per user id, for MAX_CONNECTIONS_PER_USER (docs/protocol.md section 8.3), without an
// object or a map entry per user.
//
// Why not a Map from user id to a count: when every connection is its own user (the common case: one
// browser tab each), the map's entry is about 130 bytes per connection, and memory is per connection.
// Instead the gateway's connections are chained by the hash of their user id through one Int32Array
// indexed by the connection's slot (4 bytes each) and a fixed table of chain heads. A user's count is
// found by walking their chain only, which holds their own connections and the few whose user ids hash
// alike; nothing here walks all connections. The hash is seeded per process, so no client can choose
// user ids that share a chain.

// Chain heads: a fixed table, so that no resize ever walks the connections. At 19,000 connections a
// chain holds 0.3 of another user's connections on average.
const BUCKETS = 1 << 16;
// `next` of a slot whose connection is not counted (no principal yet, or not registered).
const UNCOUNTED = -2;
const END = -1;

export class UserCounts {
  private readonly heads: Int32Array;
  // For each slot: the next slot on its chain, END, or UNCOUNTED.
  private next = new Int32Array(1024).fill(UNCOUNTED);
  private readonly seed = crypto.getRandomValues(new Uint32Array(1))[0]! ^ 0x811c_9dc5;

  /** `userAt(slot)`: the user id of the connection at that slot; only asked of counted slots. */
  constructor(
    private readonly userAt: (slot: number) => string,
    buckets = BUCKETS,
  ) {
    this.heads = new Int32Array(buckets).fill(END);
  }

  /**
   * Counts the connection at `slot` (not yet counted) for `userId`; false when that gives the user more
   * than `limit`. It counts either way until removed. The walk stops past `limit` of the user's own.
   */
  add(slot: number, userId: string, limit: number): boolean {
    if (slot >= this.next.length) this.grow(slot + 1);
    const bucket = this.bucketOf(userId);
    let count = 1;
    for (let at = this.heads[bucket]!; at !== END && count <= limit; at = this.next[at]!) {
      if (this.userAt(at) === userId) count++;
    }
    this.next[slot] = this.heads[bucket]!;
    this.heads[bucket] = slot;
    return count <= limit;
  }

  /** Stops counting the connection at `slot`, if it was; call before its slot is given to another. */
  remove(slot: number): void {
    if (slot >= this.next.length || this.next[slot] === UNCOUNTED) return;
    this.replace(slot, this.next[slot]!);
    this.next[slot] = UNCOUNTED;
  }

  /**
   * The connection counted at `from` now sits at `to`, a free slot below it (the gateway's swap-remove):
   * its place on its chain moves with it.
   */
  move(from: number, to: number): void {
    if (from >= this.next.length || this.next[from] === UNCOUNTED) return;
    this.replace(from, to);
    this.next[to] = this.next[from]!;
    this.next[from] = UNCOUNTED;
  }

  /** Points whatever links to `slot` on its chain (the head or the slot before it) at `target`. */
  private replace(slot: number, target: number): void {
    const bucket = this.bucketOf(this.userAt(slot));
    let at = this.heads[bucket]!;
    if (at === slot) {
      this.heads[bucket] = target;
      return;
    }
    while (this.next[at] !== slot) at = this.next[at]!;
    this.next[at] = target;
  }

  /** FNV-1a over the UTF-16 code units, seeded: inlined by the JIT, where a native hash call is not. */
  private bucketOf(userId: string): number {
    let hash = this.seed;
    for (let index = 0; index < userId.length; index++) hash = Math.imul(hash ^ userId.charCodeAt(index), 0x0100_0193);
    return (hash >>> 0) % this.heads.length;
  }

  private grow(slots: number): void {
    let length = this.next.length;
    while (length < slots) length *= 2;
    const next = new Int32Array(length).fill(UNCOUNTED);
    next.set(this.next);
    this.next = next;
  }
}
