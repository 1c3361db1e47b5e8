// Full-jitter exponential backoff: each delay is random(0, min(max, base * 2^attempt)).

export class Backoff {
  private attempt = 0;

  constructor(
    private readonly baseMs: number,
    private readonly maxMs: number,
    private readonly random: () => number = Math.random,
  ) {}

  /** The delay before the next attempt; each call counts one attempt. */
  next(): number {
    // The exponent is capped so 2^attempt cannot overflow to Infinity after a long outage.
    const ceiling = Math.min(this.maxMs, this.baseMs * 2 ** Math.min(this.attempt, 30));
    this.attempt++;
    return Math.floor(this.random() * ceiling);
  }

  get attempts(): number {
    return this.attempt;
  }

  reset(): void {
    this.attempt = 0;
  }
}
