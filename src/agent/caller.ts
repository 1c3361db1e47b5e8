// Who asks the agent for something: a user, and the connection the request came over, if any. The
// agent knows no sockets; whoever serves the connection says how it follows a thread.

export interface Caller {
  readonly userId: string;
  /** The caller's connection (absent over REST): it follows the thread of the run it starts. */
  readonly connection?: CallerConnection;
}

/** How a connection joins a thread's channel (docs/protocol.md section 6.1). */
export interface CallerConnection {
  /** Throws a ProtocolError when the connection may not join `channel` (its subscription limit); asked before anything is stored. */
  checkJoin(channel: string): void;
  /** Subscribes the connection to `channel` before the run's first event; one already on it stays as it is. */
  join(channel: string): Promise<void>;
}
