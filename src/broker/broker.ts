// The Broker contract: sequence numbers, history and fan-out of publications between nodes.
// The gateway talks only to this interface, so the in-memory engine and a Redis engine are interchangeable.

import type { ChannelState } from "../protocol/server-frames.ts";

export type { ChannelState };

export interface Publication {
  channel: string;
  seq: number;
  /** The channel's epoch the seq belongs to. */
  epoch: string;
  /** The payload serialised once, as JSON text. */
  payload: string;
  /** The connection that published it, so it is not echoed back; absent for server-side publications. */
  origin?: string;
}

export interface Recovery {
  state: ChannelState;
  /** Every publication after `since` in order, or undefined when they cannot all be recovered. */
  publications: Publication[] | undefined;
}

export type PublicationListener = (publication: Publication) => void;

export interface Broker {
  /** Assigns the next seq, appends to history and delivers to every listening node, atomically. */
  publish(channel: string, payload: string, origin?: string): Promise<Publication>;
  /** The channel's current seq and epoch. */
  state(channel: string): Promise<ChannelState>;
  /** The publications after `since`, when history still holds all of them and `epoch` matches. */
  recover(channel: string, since: number, epoch: string | undefined): Promise<Recovery>;
  /** Start delivering the channel's publications to this node; resolves once no later publication can be missed. */
  listen(channel: string): Promise<void>;
  /** Stop delivering the channel's publications to this node. */
  unlisten(channel: string): Promise<void>;
  /**
   * Resolves once every publication committed before the call, on a channel this node listens to, has
   * been handed to the listener; fails with `unavailable` when the engine cannot tell in time.
   * The gateway calls it between reading a channel's state and going live, so the two line up.
   */
  sync(): Promise<void>;
  /** Register the node's single publication listener. */
  onPublication(listener: PublicationListener): void;
  /** Whether the engine can serve requests now. */
  ready(): Promise<boolean>;
  close(): Promise<void>;
  /**
   * For an engine that holds everything in this process: listen, state and recover answered at once,
   * with publications handed to the listener inside publish(), so nothing can arrive between reading
   * a state and going live and `sync` has nothing to wait for. The gateway then subscribes without an
   * async step (each costs garbage per subscribe). Absent for a networked engine.
   */
  readonly immediate?: ImmediateBroker;
}

export interface ImmediateBroker {
  listen(channel: string): void;
  state(channel: string): ChannelState;
  recover(channel: string, since: number, epoch: string | undefined): Recovery;
  /**
   * What the node keeps per channel beside the engine (the gateway's membership), held on the engine's
   * own record of the channel: one map entry per channel rather than one in each (memory is per
   * connection when each has a channel of its own). One holder per engine; a channel holding a value is
   * never forgotten.
   */
  readonly locals: ChannelLocals<unknown>;
}

/** A map by channel name, for what is kept per channel; a `Map` is one. */
export interface ChannelLocals<T> {
  get(channel: string): T | undefined;
  set(channel: string, value: T): void;
  delete(channel: string): void;
}
