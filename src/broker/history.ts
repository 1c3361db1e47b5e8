// The latest publications of one channel, bounded by count and by bytes (see history-cost.ts).

import type { Publication } from "./broker.ts";
import { publicationCost } from "./history-cost.ts";

export class History {
  // Oldest first from `head`; the slots before it are spent, and get cut off once there are 64 or more of
  // them and they make up half the array (or all of it).
  private items: Publication[] = [];
  private head = 0;
  /** What the publications kept cost, by publicationCost. */
  bytes = 0;

  constructor(
    /** The channel's epoch, which every publication kept here belongs to. */
    readonly epoch: string,
  ) {}

  get length(): number {
    return this.items.length - this.head;
  }

  /**
   * Appends, then drops the oldest publications while more than `capacity` are held or they cost more than
   * `maxBytes`: one that alone costs more than `maxBytes` is not kept, and leaves the history empty. Keeps
   * nothing when `capacity` is 0. Returns the change in `bytes` (negative when more was dropped than added).
   */
  push(publication: Publication, capacity: number, maxBytes: number): number {
    if (capacity === 0) return 0;
    const before = this.bytes;
    this.items.push(publication);
    this.bytes += costOf(publication);
    while (this.length > capacity || (this.bytes > maxBytes && this.length > 0)) this.dropOldest();
    return this.bytes - before;
  }

  /** Seq of the oldest publication kept, or undefined when empty. */
  oldestSeq(): number | undefined {
    return this.length === 0 ? undefined : this.items[this.head]!.seq;
  }

  /** Publications with seq greater than `since`, oldest first. */
  after(since: number): Publication[] {
    const oldest = this.oldestSeq();
    if (oldest === undefined) return [];
    // The seqs kept are consecutive: only the oldest are ever dropped.
    return this.items.slice(this.head + Math.max(0, since + 1 - oldest));
  }

  private dropOldest(): void {
    // Worked out again rather than kept: a second array per channel would cost more than the recount.
    this.bytes -= costOf(this.items[this.head]!);
    this.items[this.head] = undefined as unknown as Publication;
    this.head++;
    if (this.head === this.items.length) {
      this.items = [];
      this.head = 0;
    } else if (this.head >= 64 && this.head * 2 >= this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
  }
}

const costOf = (publication: Publication) => publicationCost(publication.channel, publication.payload, publication.origin);
