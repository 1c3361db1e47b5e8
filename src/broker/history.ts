// A fixed-capacity ring of the latest publications of one channel.

import type { Publication } from "./broker.ts";

export class History {
  private items: Publication[] = [];
  private start = 0;
  bytes = 0;

  constructor(
    private readonly capacity: number,
    /** The channel's epoch, which every publication kept here belongs to. */
    readonly epoch: string,
  ) {}

  get length(): number {
    return this.items.length;
  }

  /** Appends, returning the bytes freed by dropping the oldest entry when full. */
  push(publication: Publication): void {
    if (this.capacity === 0) return;
    this.bytes += publication.payload.length;
    if (this.items.length < this.capacity) {
      this.items.push(publication);
      return;
    }
    const dropped = this.items[this.start]!;
    this.bytes -= dropped.payload.length;
    this.items[this.start] = publication;
    this.start = (this.start + 1) % this.capacity;
  }

  /** Seq of the oldest publication kept, or undefined when empty. */
  oldestSeq(): number | undefined {
    return this.items.length === 0 ? undefined : this.items[this.start]!.seq;
  }

  /** Publications with seq greater than `since`, oldest first. */
  after(since: number): Publication[] {
    const result: Publication[] = [];
    const count = this.items.length;
    for (let i = 0; i < count; i++) {
      const publication = this.items[(this.start + i) % count]!;
      if (publication.seq > since) result.push(publication);
    }
    return result;
  }
}
