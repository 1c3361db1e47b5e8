// Requests between nodes over Redis pub/sub: each node listens on its own channel and answers there.

import { createLogger, type Logger } from "../observability/log.ts";
import {
  ErrorCode,
  ProtocolError,
  controlNotice,
  controlReply,
  controlRequest,
  decodeControlEnvelope,
  type ControlEnvelope,
  type ControlNotice,
  type ControlReply,
  type ControlRequest,
} from "../protocol/index.ts";
import type { ControlBus, ControlHandler, NoticeHandler } from "./control-bus.ts";
import type { RedisBroker } from "./redis-broker.ts";
import { RedisConnection, asUnavailable } from "./redis-connection.ts";
import { RedisSubscriber } from "./redis-subscriber.ts";

interface Connections {
  commands: RedisConnection;
  subscriber: RedisSubscriber;
}

export type RedisControlBusOptions = {
  nodeId: string;
  prefix: string;
  logger?: Logger;
} & (
  | { /** Share the node's broker connections; closing the bus then leaves them open. */ broker: RedisBroker }
  | { url: string; commandTimeoutMs?: number }
);

/** An envelope as sent: the bodies typed (received ones are checked against the schema first). */
type Envelope =
  | { type: "request"; id: string; from: string; message: ControlRequest }
  | { type: "answer"; id: string; message: ControlReply }
  | { type: "error"; id: string; code: string; message: string }
  | { type: "notice"; from: string; message: ControlNotice };

interface PendingRequest {
  nodeId: string;
  resolve(reply: ControlReply): void;
  reject(error: Error): void;
  timer: Timer;
}

const knownCodes = new Set<string>(Object.values(ErrorCode));

export function nodeChannel(prefix: string, nodeId: string): string {
  return `${prefix}node:${nodeId}`;
}

/** The channel every node listens to for notices. */
export function broadcastChannel(prefix: string): string {
  return `${prefix}nodes`;
}

export class RedisControlBus implements ControlBus {
  readonly singleNode = false;
  private handler: ControlHandler | undefined;
  private noticeHandler: NoticeHandler = () => {};
  private readonly pending = new Map<string, PendingRequest>();

  private constructor(
    readonly nodeId: string,
    private readonly prefix: string,
    private readonly connections: Connections,
    private readonly ownsConnections: boolean,
    private readonly logger: Logger,
  ) {}

  /** Subscribes to this node's channel before resolving, so no request addressed to it is missed. */
  static async connect(options: RedisControlBusOptions): Promise<RedisControlBus> {
    const logger = options.logger ?? ("broker" in options ? options.broker.logger : createLogger("silent"));
    let connections: Connections;
    if ("broker" in options) {
      connections = { commands: options.broker.commands, subscriber: options.broker.subscriber };
    } else {
      const connection = { url: options.url, commandTimeoutMs: options.commandTimeoutMs ?? 2000, logger };
      const commands = await RedisConnection.open({ ...connection, name: "commands" });
      const subscriber = await RedisSubscriber.open(connection).catch((error) => {
        commands.close();
        throw error;
      });
      connections = { commands, subscriber };
    }
    const bus = new RedisControlBus(options.nodeId, options.prefix, connections, !("broker" in options), logger);
    try {
      // The subscriber re-subscribes this channel after every reconnection, as it does for broker channels.
      await connections.subscriber.subscribe(nodeChannel(options.prefix, options.nodeId), (message) => bus.receive(message));
      await connections.subscriber.subscribe(broadcastChannel(options.prefix), (message) => bus.receive(message));
    } catch (error) {
      if (bus.ownsConnections) bus.closeConnections();
      throw error;
    }
    return bus;
  }

  request(nodeId: string, request: ControlRequest, timeoutMs: number): Promise<ControlReply> {
    const id = crypto.randomUUID();
    return new Promise<ControlReply>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new ProtocolError(ErrorCode.unavailable, `node ${nodeId} did not answer within ${timeoutMs} ms`));
      }, timeoutMs);
      this.pending.set(id, { nodeId, resolve, reject, timer });
      this.send(nodeId, { type: "request", id, from: this.nodeId, message: request }).catch((error) => {
        this.settle(id)?.reject(asUnavailable(error));
      });
    });
  }

  onRequest(handler: ControlHandler): void {
    this.handler = handler;
  }

  async broadcast(notice: ControlNotice): Promise<void> {
    const envelope: Envelope = { type: "notice", from: this.nodeId, message: notice };
    try {
      await this.connections.commands.send("PUBLISH", [broadcastChannel(this.prefix), JSON.stringify(envelope)]);
    } catch (error) {
      throw asUnavailable(error);
    }
  }

  onNotice(handler: NoticeHandler): void {
    this.noticeHandler = handler;
  }

  async close(): Promise<void> {
    for (const id of [...this.pending.keys()]) {
      this.settle(id)?.reject(new ProtocolError(ErrorCode.unavailable, "the control bus is closing"));
    }
    await this.connections.subscriber.unsubscribe(nodeChannel(this.prefix, this.nodeId));
    await this.connections.subscriber.unsubscribe(broadcastChannel(this.prefix));
    if (this.ownsConnections) this.closeConnections();
  }

  private closeConnections(): void {
    this.connections.subscriber.close();
    this.connections.commands.close();
  }

  private async send(nodeId: string, envelope: Envelope): Promise<void> {
    await this.connections.commands.send("PUBLISH", [nodeChannel(this.prefix, nodeId), JSON.stringify(envelope)]);
  }

  private settle(id: string): PendingRequest | undefined {
    const pending = this.pending.get(id);
    if (!pending) return undefined;
    this.pending.delete(id);
    clearTimeout(pending.timer);
    return pending;
  }

  /** Every message on this node's channel, checked against the schema (docs/protocol.md section 9.6). */
  private receive(text: string): void {
    let envelope: ControlEnvelope;
    try {
      envelope = decodeControlEnvelope(text);
    } catch (error) {
      // Without a well-formed id and sender there is no one to answer: the requester runs into its timeout.
      this.logger.warn("ignored a malformed control message", { error, details: (error as ProtocolError).details });
      return;
    }
    if (envelope.type === "notice") this.notice(envelope);
    else if (envelope.type === "request") void this.answer(envelope);
    else if (envelope.type === "answer") this.resolve(envelope.id, envelope.message);
    else {
      const code = knownCodes.has(envelope.code) ? (envelope.code as ErrorCode) : ErrorCode.internal;
      this.settle(envelope.id)?.reject(new ProtocolError(code, envelope.message));
    }
  }

  private notice(envelope: Extract<ControlEnvelope, { type: "notice" }>): void {
    let notice: ControlNotice;
    try {
      notice = controlNotice(envelope.message);
    } catch (error) {
      this.logger.warn("ignored a malformed control notice", { from: envelope.from, error, details: (error as ProtocolError).details });
      return;
    }
    this.noticeHandler(notice);
  }

  private resolve(id: string, message: unknown): void {
    const pending = this.settle(id);
    if (!pending) return;
    try {
      pending.resolve(controlReply(message));
    } catch (error) {
      // The other node answered something this node cannot read: a server fault, not the caller's.
      this.logger.warn("refused a malformed control answer", { from: pending.nodeId, error, details: (error as ProtocolError).details });
      pending.reject(new ProtocolError(ErrorCode.internal, "internal server error", undefined, { cause: error }));
    }
  }

  private async answer(request: Extract<ControlEnvelope, { type: "request" }>): Promise<void> {
    let reply: Envelope;
    try {
      if (!this.handler) throw new ProtocolError(ErrorCode.unavailable, `node ${this.nodeId} takes no control requests`);
      reply = { type: "answer", id: request.id, message: await this.handler(this.checked(request)) };
    } catch (error) {
      if (error instanceof ProtocolError) reply = { type: "error", id: request.id, code: error.code, message: error.message };
      else {
        // The detail stays in this node's log; the requester learns only that it failed.
        this.logger.error("control request handler failed", { from: request.from, error });
        reply = { type: "error", id: request.id, code: ErrorCode.internal, message: "internal server error" };
      }
    }
    // An answer that cannot be sent leaves the requester to its timeout.
    await this.send(request.from, reply).catch((error) => this.logger.warn("could not answer a control request", { from: request.from, error }));
  }

  /** The request's body; a malformed one is logged and refused with `invalid_message`. */
  private checked(request: Extract<ControlEnvelope, { type: "request" }>): ControlRequest {
    try {
      return controlRequest(request.message);
    } catch (error) {
      this.logger.warn("refused a malformed control request", { from: request.from, error, details: (error as ProtocolError).details });
      throw error;
    }
  }
}
