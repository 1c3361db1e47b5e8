// A small set kept as compact as its size allows, for what the gateway holds per connection and per
// channel (memory is per connection): nothing, one member bare, a few in an array, many in a Set.

/** Members must be neither arrays nor Sets themselves (strings and plain objects are fine). */
export type CompactSet<T> = T | T[] | Set<T> | undefined;

// Past this many members an array's linear scans cost more than a Set's ~300 bytes.
const ARRAY_LIMIT = 8;

export function compactSize<T>(set: CompactSet<T>): number {
  if (set === undefined) return 0;
  if (Array.isArray(set)) return set.length;
  if (set instanceof Set) return set.size;
  return 1;
}

export function compactHas<T>(set: CompactSet<T>, member: T): boolean {
  if (set === undefined) return false;
  if (Array.isArray(set)) return set.includes(member);
  if (set instanceof Set) return set.has(member);
  return set === member;
}

/** The set with `member` added (a no-op when present); store the result back. */
export function compactAdd<T>(set: CompactSet<T>, member: T): CompactSet<T> {
  if (set === undefined) return member;
  if (set instanceof Set) return set.add(member);
  if (Array.isArray(set)) {
    if (set.includes(member)) return set;
    if (set.length < ARRAY_LIMIT) {
      set.push(member);
      return set;
    }
    return new Set([...set, member]);
  }
  return set === member ? set : [set as T, member];
}

/** The set with `member` removed (a no-op when absent); store the result back. Order is not kept. */
export function compactDelete<T>(set: CompactSet<T>, member: T): CompactSet<T> {
  if (set === undefined) return undefined;
  if (set instanceof Set) {
    set.delete(member);
    if (set.size > 1) return set;
    return set.size === 1 ? set.values().next().value : undefined;
  }
  if (Array.isArray(set)) {
    const index = set.indexOf(member);
    if (index < 0) return set;
    set[index] = set[set.length - 1]!;
    set.pop();
    return set.length === 1 ? set[0] : set;
  }
  return set === member ? undefined : set;
}

/** The members, as a new array: safe to iterate while the set changes. */
export function compactValues<T>(set: CompactSet<T>): T[] {
  if (set === undefined) return [];
  if (Array.isArray(set)) return [...set];
  if (set instanceof Set) return [...set];
  return [set];
}

/**
 * Calls `visit` for each member once, without allocating. `visit` may delete the member it visits
 * (a connection that closes while it is written to); the others are still visited.
 */
export function compactForEach<T>(set: CompactSet<T>, visit: (member: T) => void): void {
  if (set === undefined) return;
  if (set instanceof Set) {
    // A Set's iteration skips deleted members and visits the rest.
    for (const member of set) visit(member);
  } else if (Array.isArray(set)) {
    // Backwards: a delete moves the last member into the freed slot, and that one was visited already.
    for (let index = set.length - 1; index >= 0; index--) if (index < set.length) visit(set[index]!);
  } else {
    visit(set);
  }
}

/** Any one member (the bare one, or the first), or undefined when empty. */
export function compactFirst<T>(set: CompactSet<T>): T | undefined {
  if (set === undefined) return undefined;
  if (Array.isArray(set)) return set[0];
  if (set instanceof Set) return set.values().next().value;
  return set;
}

/** The first member that matches, or undefined. */
export function compactFind<T>(set: CompactSet<T>, match: (member: T) => boolean): T | undefined {
  if (set === undefined) return undefined;
  if (Array.isArray(set) || set instanceof Set) {
    for (const member of set) if (match(member)) return member;
    return undefined;
  }
  return match(set) ? set : undefined;
}
