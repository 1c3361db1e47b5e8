// Connections per user on this node, for MAX_CONNECTIONS_PER_USER, without a map entry per user (memory
// is per connection, and a map costs about 130 B an entry): a count per bucket of user ids, never below
// the count of any one user in the bucket, and exact counts only for the users of a bucket that has
// gone over the limit, taken once from the registered connections and kept until the bucket empties.

// A power of two. 32 KB of counts; at 19,000 users a bucket holds about one, and one over a limit of
// 16 or more by chance alone is too rare to matter (each costs a walk of the connections, once).
const BUCKETS = 16_384;
// Below this limit buckets would go over it by chance: every user is counted exactly.
const SKETCH_FROM_LIMIT = 16;

export class UserCounts {
  private readonly buckets: Uint16Array;
  private readonly mask: number;
  // Buckets whose users are counted exactly in `exact`, until they hold no connection.
  private readonly hot = new Set<number>();
  private readonly exact = new Map<string, number>();
  private readonly exactAll: boolean;
  // Per process, so that no one can pick user ids that fall in one bucket.
  private readonly seed = (Math.random() * 2 ** 32) >>> 0;

  /**
   * `registeredUsers` lists the user of every registered connection counted here, the one being
   * admitted included: a bucket going over the limit has its users counted from it.
   */
  constructor(
    private readonly limit: number,
    private readonly registeredUsers: () => Iterable<string>,
    { buckets = BUCKETS, sketchFromLimit = SKETCH_FROM_LIMIT }: { buckets?: number; sketchFromLimit?: number } = {},
  ) {
    this.exactAll = limit < sketchFromLimit;
    this.buckets = new Uint16Array(this.exactAll ? 0 : buckets);
    this.mask = buckets - 1;
  }

  /** Counts one more connection of the user; false when that puts them over the limit (counted until released either way). */
  admit(userId: string): boolean {
    if (this.exactAll) return this.addExact(userId) <= this.limit;
    const bucket = this.bucketOf(userId);
    const inBucket = ++this.buckets[bucket]!;
    if (this.hot.has(bucket)) return this.addExact(userId) <= this.limit;
    if (inBucket <= this.limit) return true;
    this.hot.add(bucket);
    for (const user of this.registeredUsers()) if (this.bucketOf(user) === bucket) this.addExact(user);
    return this.exact.get(userId)! <= this.limit;
  }

  /** One connection of the user fewer. */
  release(userId: string): void {
    if (this.exactAll) return this.removeExact(userId);
    const bucket = this.bucketOf(userId);
    const inBucket = --this.buckets[bucket]!;
    if (!this.hot.has(bucket)) return;
    this.removeExact(userId);
    if (inBucket === 0) this.hot.delete(bucket);
  }

  private addExact(userId: string): number {
    const count = (this.exact.get(userId) ?? 0) + 1;
    this.exact.set(userId, count);
    return count;
  }

  private removeExact(userId: string): void {
    const count = this.exact.get(userId)! - 1;
    if (count > 0) this.exact.set(userId, count);
    else this.exact.delete(userId);
  }

  // FNV-1a from the seed, with a final mix so the low bits depend on every character.
  private bucketOf(userId: string): number {
    let hash = this.seed;
    for (let index = 0; index < userId.length; index++) hash = Math.imul(hash ^ userId.charCodeAt(index), 16_777_619);
    hash ^= hash >>> 15;
    hash = Math.imul(hash, 0x2c1b3c6d);
    hash ^= hash >>> 12;
    return hash & this.mask;
  }
}
