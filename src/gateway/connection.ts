// What the gateway needs of a client connection, whatever carries it (a WebSocket, an SSE stream):
// the seam every transport implements (docs/protocol.md section 10).

import type { Principal } from "../auth/principal.ts";
import type { ChannelState, Publication } from "../broker/broker.ts";
import type { Topics } from "./transport.ts";

/** How a subscription started: whether the asked-for position was recovered, and how much was replayed. */
export interface SubscribeOutcome {
  recovered: boolean;
  replayed: number;
}

/**
 * How a transport writes what the gateway sends. One object per transport, shared by its connections:
 * nothing here costs memory per connection.
 */
export interface Wire {
  /** One publication of a channel the connection holds. */
  publication(publication: Publication): string;
  /** What opens a subscription: the ack, or nothing (undefined) for a transport that has none. */
  subscribed(channel: string, state: ChannelState, id: string | undefined, outcome: SubscribeOutcome | undefined): string | undefined;
  /** Sent before the server closes the connection to shut down, when the transport has such a message. */
  shutdown(): string | undefined;
}

/** The intervals the gateway's tick hands each connection for its transport's own upkeep. */
export interface KeepAlive {
  pingMs: number;
  idleMs: number;
  tickMs: number;
}

export interface Connection {
  readonly id: string;
  readonly principal: Principal | undefined;
  readonly closed: boolean;
  /** Its index among the gateway's connections while registered, -1 otherwise; only the gateway sets it. */
  slot: number;
  /** When the gateway's tick closes the connection (ms since epoch): an auth deadline or the token's expiry. */
  readonly expiresAt: number;
  readonly wire: Wire;
  /**
   * Bun's native topic membership, for a WebSocket: its publications then go out through the server's
   * own topic publish, once for every socket. Undefined for a transport the gateway writes to itself.
   */
  readonly topics: Topics | undefined;
  send(text: string): void;
  /**
   * Sends a publication already written by this connection's wire; when absent, `send(text)` does.
   * For a transport that acts on what it delivers (an SSE stream that ends at a run's final event).
   */
  deliver?(publication: Publication, text: string): void;
  close(code: number, reason: string): void;
  /** Bytes written but not yet taken by the client. */
  bufferedAmount(): number;
  /** The transport's upkeep on each tick: pings, idle closes. */
  keepAlive(now: number, intervals: KeepAlive): void;
  // The channels held, kept on the connection itself (memory is per connection).
  isSubscribed(channel: string): boolean;
  addChannel(channel: string): void;
  /** False when the channel was not held. */
  removeChannel(channel: string): boolean;
  /** A copy, safe to iterate while unsubscribing. */
  channels(): string[];
}
