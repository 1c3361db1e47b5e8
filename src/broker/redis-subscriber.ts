// The node's pub/sub connection to Redis: one handler per Redis channel, kept subscribed across reconnects.

import type { RedisClient } from "bun";
import type { Logger } from "../observability/log.ts";
import { RedisConnection, RedisTimeoutError, asUnavailable, withTimeout, type RedisConnectionOptions } from "./redis-connection.ts";

export type MessageHandler = (message: string) => void;

export class RedisSubscriber {
  /** What this node wants to hear; the truth that every reconnection re-creates. */
  private readonly handlers = new Map<string, MessageHandler>();
  /** Channels Redis confirmed on `subscribedClient`; a new client starts with none. */
  private subscribed = new Set<string>();
  private subscribedClient: RedisClient | undefined;
  /** Operations on one channel run one after another, so a subscribe and an unsubscribe never cross. */
  private readonly queues = new Map<string, Promise<unknown>>();
  private readonly dispatch = (message: string, channel: string): void => {
    const handler = this.handlers.get(channel);
    if (!handler) return;
    try {
      handler(message);
    } catch (error) {
      this.logger.error("pub/sub message handler failed", { channel, error });
    }
  };

  private constructor(
    private readonly connection: RedisConnection,
    private readonly commandTimeoutMs: number,
    private readonly logger: Logger,
  ) {
    connection.onConnect((_client, reconnected) => {
      if (reconnected) this.resubscribeAll();
    });
  }

  static async open(options: Omit<RedisConnectionOptions, "name">): Promise<RedisSubscriber> {
    const connection = await RedisConnection.open({ ...options, name: "subscriber" });
    return new RedisSubscriber(connection, options.commandTimeoutMs, options.logger);
  }

  get connected(): boolean {
    return this.connection.connected;
  }

  ping(timeoutMs: number): Promise<boolean> {
    return this.connection.ping(timeoutMs);
  }

  /** Resolves once Redis confirmed the subscription, so every later PUBLISH reaches `handler`. */
  subscribe(channel: string, handler: MessageHandler): Promise<void> {
    return this.enqueue(channel, async () => {
      const previous = this.handlers.get(channel);
      this.handlers.set(channel, handler);
      try {
        await this.sync(channel);
      } catch (error) {
        if (previous) this.handlers.set(channel, previous);
        else this.handlers.delete(channel);
        throw asUnavailable(error);
      }
    });
  }

  /** Never fails: a subscription that cannot be undone now dies with its connection, which is not renewed for it. */
  unsubscribe(channel: string): Promise<void> {
    return this.enqueue(channel, async () => {
      if (!this.handlers.delete(channel)) return;
      if (!this.connection.connected) return;
      await this.sync(channel).catch((error) => this.logger.debug("UNSUBSCRIBE failed", { channel, error }));
    });
  }

  close(): void {
    this.handlers.clear();
    this.connection.close();
  }

  /** Bring Redis in line with `handlers` for one channel, on whichever client is connected now. */
  private async sync(channel: string): Promise<void> {
    const client = await this.connection.connectedClient();
    if (client !== this.subscribedClient) {
      this.subscribedClient = client;
      this.subscribed = new Set();
    }
    const wanted = this.handlers.has(channel);
    const subscribed = this.subscribed;
    try {
      if (wanted && !subscribed.has(channel)) {
        await withTimeout(client.subscribe(channel, this.dispatch), this.commandTimeoutMs, "SUBSCRIBE");
        subscribed.add(channel);
      } else if (!wanted && subscribed.has(channel)) {
        subscribed.delete(channel);
        await withTimeout(client.unsubscribe(channel, this.dispatch), this.commandTimeoutMs, "UNSUBSCRIBE");
      }
    } catch (error) {
      // Bun may have registered the listener although Redis never answered; retrying on this client
      // could register it twice, so a silent socket is replaced and the next client starts clean.
      if (error instanceof RedisTimeoutError) this.connection.recycle(error.message);
      throw error;
    }
  }

  private resubscribeAll(): void {
    const channels = [...this.handlers.keys()];
    if (channels.length === 0) return;
    // Redis pushed nothing to this node while it was disconnected; clients notice the seq gap and resume with `since`.
    this.logger.warn("Redis subscriber reconnected; publications sent meanwhile were not pushed to this node", {
      channels: channels.length,
    });
    for (const channel of channels) {
      this.enqueue(channel, () => this.sync(channel)).catch((error) =>
        // The next reconnection tries again; until then this channel hears nothing on this node.
        this.logger.warn("re-subscribing after a reconnect failed", { channel, error }),
      );
    }
  }

  private enqueue<T>(channel: string, operation: () => Promise<T>): Promise<T> {
    const previous = this.queues.get(channel) ?? Promise.resolve();
    const result = previous.then(operation, operation);
    const settled = result.catch(() => {});
    this.queues.set(channel, settled);
    void settled.then(() => {
      if (this.queues.get(channel) === settled) this.queues.delete(channel);
    });
    return result;
  }
}
