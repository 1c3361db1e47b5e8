// The pub/sub barrier: a marker published to this node's own Redis channel, awaited on its subscriber connection.

import { RedisTimeoutError, asUnavailable, unavailableError, type RedisConnection } from "./redis-connection.ts";
import type { RedisSubscriber } from "./redis-subscriber.ts";

/** One marker and every caller it answers. */
interface Round {
  id: number;
  done: PromiseWithResolvers<void>;
  timer: Timer;
}

/**
 * Redis pushes messages to one subscriber connection in the order their PUBLISHes ran, so once a
 * marker published now comes back, every publication committed before it has been delivered too.
 * At most one marker is in flight; callers arriving meanwhile share the next one, sent when it
 * returns (the one in flight may have been published before their call, so it cannot answer them).
 */
export class RedisBarrier {
  private rounds = 0;
  private inFlight: Round | undefined;
  private next: Round | undefined;
  private closed = false;

  private constructor(
    private readonly commands: RedisConnection,
    private readonly channel: string,
    private readonly timeoutMs: number,
  ) {}

  /** Subscribes to `channel` before resolving; the subscriber re-subscribes it after every reconnection. */
  static async open(commands: RedisConnection, subscriber: RedisSubscriber, channel: string, timeoutMs: number): Promise<RedisBarrier> {
    const barrier = new RedisBarrier(commands, channel, timeoutMs);
    await subscriber.subscribe(channel, (message) => barrier.arrived(message));
    return barrier;
  }

  /** Resolves once every publication committed before the call reached this node; `unavailable` after the timeout. */
  wait(): Promise<void> {
    if (this.closed) return Promise.reject(unavailableError(new Error("the broker is closed")));
    const round = (this.next ??= this.round());
    if (!this.inFlight) this.send();
    return round.done.promise;
  }

  close(): void {
    this.closed = true;
    for (const round of [this.inFlight, this.next]) {
      if (round) this.settle(round, unavailableError(new Error("the broker is closed")));
    }
  }

  private round(): Round {
    const id = ++this.rounds;
    const done = Promise.withResolvers<void>();
    // Started when the first caller joins, so a caller waits at most this long, the round in flight before included.
    const timer = setTimeout(
      () => this.settle(round, unavailableError(new RedisTimeoutError(`the pub/sub barrier got no answer from Redis within ${this.timeoutMs} ms`))),
      this.timeoutMs,
    );
    const round: Round = { id, done, timer };
    return round;
  }

  private send(): void {
    const round = this.next!;
    this.next = undefined;
    this.inFlight = round;
    this.commands.send("PUBLISH", [this.channel, String(round.id)]).catch((error) => this.settle(round, asUnavailable(error)));
  }

  private arrived(message: string): void {
    // A marker of a round that already timed out is stale: it was published before the current callers came.
    const round = this.inFlight;
    if (round && message === String(round.id)) this.settle(round);
  }

  private settle(round: Round, error?: unknown): void {
    clearTimeout(round.timer);
    if (error === undefined) round.done.resolve();
    else round.done.reject(error);
    if (this.next === round) this.next = undefined;
    if (this.inFlight !== round) return;
    this.inFlight = undefined;
    if (this.next && !this.closed) this.send();
  }
}
