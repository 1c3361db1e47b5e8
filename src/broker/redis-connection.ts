// One Redis connection that reconnects by itself, bounds every command in time and reports outages as `unavailable`.

import { RedisClient } from "bun";
import type { Logger } from "../observability/log.ts";
import { ErrorCode, ProtocolError } from "../protocol/index.ts";

export interface RedisConnectionOptions {
  url: string;
  /** Longest wait for a connection or a reply before failing with `unavailable`. */
  commandTimeoutMs: number;
  logger: Logger;
  /** Shown in logs: which of the node's connections this is. */
  name: string;
  /** How often an idle check PINGs the server, so a half-open socket is noticed and replaced. */
  heartbeatMs?: number;
}

type ConnectListener = (client: RedisClient, reconnected: boolean) => void;

const RECONNECT_FIRST_DELAY_MS = 50;
const RECONNECT_MAX_DELAY_MS = 1000;
const DEFAULT_HEARTBEAT_MS = 5000;

// Server replies that mean "not now" rather than "wrong request": a retry later can succeed.
const TRANSIENT_SERVER_ERRORS = /^(LOADING|BUSY|READONLY|MASTERDOWN|CLUSTERDOWN|TRYAGAIN|NOREPLICAS|OOM)\b/;

export class RedisTimeoutError extends Error {
  override readonly name = "RedisTimeoutError";
}

export function unavailableError(cause: unknown): ProtocolError {
  return new ProtocolError(ErrorCode.unavailable, "the broker (Redis) is unavailable; retry later", undefined, { cause });
}

/** `error` as an `unavailable` ProtocolError, not wrapping one that already is. */
export function asUnavailable(error: unknown): ProtocolError {
  return error instanceof ProtocolError && error.code === ErrorCode.unavailable ? error : unavailableError(error);
}

/** Whether `error` says Redis cannot be reached (or cannot serve now), as opposed to a bad request. */
export function isOutage(error: unknown): boolean {
  if (error instanceof RedisTimeoutError) return true;
  if (error instanceof ProtocolError) return error.code === ErrorCode.unavailable;
  const code = (error as { code?: unknown } | undefined)?.code;
  if (code === "ERR_REDIS_SERVER_ERROR") return TRANSIENT_SERVER_ERRORS.test(String((error as Error).message));
  return typeof code === "string" && code.startsWith("ERR_REDIS_");
}

export function withTimeout<T>(promise: Promise<T>, timeoutMs: number, what: string): Promise<T> {
  let timer: Timer | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new RedisTimeoutError(`${what} got no answer from Redis within ${timeoutMs} ms`)), timeoutMs);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/**
 * Bun's client is used with its own reconnection off: it would otherwise keep `connect()` waiting through
 * its whole retry schedule, and it keeps pub/sub listeners across a reconnect while Redis has dropped the
 * subscriptions. So every connection attempt here gets a fresh RedisClient with a clean state.
 */
export class RedisConnection {
  private client: RedisClient | undefined;
  private closed = false;
  private reconnecting: Promise<void> | undefined;
  private everConnected = false;
  /** Set once a reconnection attempt failed: Redis is known to be down, so callers are not kept waiting. */
  private unreachable = false;
  private waiters: Array<{ resolve(client: RedisClient): void; reject(error: unknown): void }> = [];
  private readonly connectListeners: ConnectListener[] = [];
  private readonly heartbeat: Timer;

  private constructor(private readonly options: RedisConnectionOptions) {
    this.heartbeat = setInterval(() => void this.checkHealth(), options.heartbeatMs ?? DEFAULT_HEARTBEAT_MS);
    this.heartbeat.unref();
  }

  /** Connects once; a Redis that cannot be reached at start-up is reported rather than waited for. */
  static async open(options: RedisConnectionOptions): Promise<RedisConnection> {
    const connection = new RedisConnection(options);
    try {
      await connection.connectOnce();
    } catch (error) {
      connection.close();
      throw unavailableError(error);
    }
    return connection;
  }

  get connected(): boolean {
    return this.client !== undefined;
  }

  /** Called after every successful connection, with `reconnected` true for all but the first. */
  onConnect(listener: ConnectListener): void {
    this.connectListeners.push(listener);
  }

  /**
   * The connected client. Just after a drop it waits for the reconnection (at most the command timeout),
   * so a blip such as a failover goes unnoticed; once an attempt has failed it answers `unavailable` at once.
   */
  async connectedClient(): Promise<RedisClient> {
    if (this.client) return this.client;
    if (this.closed) throw unavailableError(new Error(`the ${this.options.name} connection is closed`));
    if (this.unreachable) throw unavailableError(new Error(`the ${this.options.name} connection is down and Redis unreachable`));
    const waiter = Promise.withResolvers<RedisClient>();
    this.waiters.push(waiter);
    try {
      return await withTimeout(waiter.promise, this.options.commandTimeoutMs, `connecting the ${this.options.name} connection`);
    } catch (error) {
      this.waiters = this.waiters.filter((other) => other !== waiter);
      throw unavailableError(error);
    }
  }

  /** Runs one command, failing with `unavailable` when Redis is down or does not answer in time. */
  async send(command: string, args: string[]): Promise<unknown> {
    const client = await this.connectedClient();
    try {
      return await withTimeout(client.send(command, args), this.options.commandTimeoutMs, command);
    } catch (error) {
      throw isOutage(error) ? unavailableError(error) : error;
    }
  }

  /** Answers quickly whether the server replies to PING right now. */
  async ping(timeoutMs: number): Promise<boolean> {
    const client = this.client;
    if (!client) return false;
    try {
      await withTimeout(client.send("PING", []), timeoutMs, "PING");
      return true;
    } catch {
      return false;
    }
  }

  /** Drop the current socket (for instance one that stopped answering) and connect a new one. */
  recycle(reason: string): void {
    const client = this.client;
    if (client) this.lost(client, new Error(reason));
  }

  close(): void {
    this.closed = true;
    clearInterval(this.heartbeat);
    this.rejectWaiters(new Error(`the ${this.options.name} connection is closed`));
    const client = this.client;
    this.client = undefined;
    if (client) detachAndClose(client);
  }

  private async connectOnce(): Promise<void> {
    const client = new RedisClient(this.options.url, {
      autoReconnect: false,
      enableOfflineQueue: false,
      connectionTimeout: this.options.commandTimeoutMs,
    });
    try {
      await withTimeout(client.connect(), this.options.commandTimeoutMs, `connecting the ${this.options.name} connection`);
    } catch (error) {
      detachAndClose(client);
      throw error;
    }
    if (this.closed) {
      detachAndClose(client);
      return;
    }
    if (!client.connected) {
      detachAndClose(client);
      throw new Error("the connection closed right after it opened");
    }
    client.onclose = (error) => this.lost(client, error);
    const reconnected = this.everConnected;
    this.everConnected = true;
    this.unreachable = false;
    this.client = client;
    const waiters = this.waiters;
    this.waiters = [];
    for (const waiter of waiters) waiter.resolve(client);
    for (const listener of this.connectListeners) {
      try {
        listener(client, reconnected);
      } catch (error) {
        this.options.logger.error("Redis connect listener failed", { connection: this.options.name, error });
      }
    }
  }

  private lost(client: RedisClient, error: Error): void {
    if (client !== this.client) return;
    this.client = undefined;
    detachAndClose(client);
    if (this.closed) return;
    this.options.logger.warn("Redis connection lost; reconnecting", { connection: this.options.name, error });
    this.reconnect();
  }

  private reconnect(): void {
    if (this.reconnecting) return;
    this.reconnecting = (async () => {
      let delayMs = RECONNECT_FIRST_DELAY_MS;
      let attempts = 0;
      while (!this.closed && !this.client) {
        try {
          await this.connectOnce();
          this.options.logger.info("Redis connection re-established", { connection: this.options.name, attempts: attempts + 1 });
          break;
        } catch (error) {
          attempts++;
          this.unreachable = true;
          // Callers still waiting would only wait out their timeout: tell them now.
          this.rejectWaiters(error);
          // One line per outage, then quiet: the attempts go on every second until Redis is back.
          if (attempts === 1) this.options.logger.warn("Redis unreachable; retrying every second", { connection: this.options.name, error });
        }
        await Bun.sleep(delayMs);
        delayMs = Math.min(delayMs * 2, RECONNECT_MAX_DELAY_MS);
      }
    })().finally(() => {
      this.reconnecting = undefined;
    });
  }

  private rejectWaiters(error: unknown): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const waiter of waiters) waiter.reject(error);
  }

  private async checkHealth(): Promise<void> {
    const client = this.client;
    if (!client) return;
    if (await this.ping(this.options.commandTimeoutMs)) return;
    if (this.client === client) this.recycle("PING got no answer");
  }
}

function detachAndClose(client: RedisClient): void {
  client.onclose = null;
  client.onconnect = null;
  try {
    client.close();
  } catch {
    // Already closed: nothing left to release.
  }
}
