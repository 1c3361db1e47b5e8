// What the storm scenario and its load-generator processes (bench/storm-loadgen.ts) tell each other over IPC.

/** From the bench to a load generator; each `id` is answered by a report with the same id. */
export type StormCommand =
  /** Sign the tokens of clients first..first+count-1 (user `storm-<i>`) before any clock starts. */
  | { type: "prepare"; id: number; count: number; first: number }
  /**
   * Start the proxy in front of `ports` (each new connection goes to one of them at random) and open
   * the clients through it, `inFlight` at a time; client i subscribes to channel `storm-<i mod channels>`.
   */
  | { type: "open"; id: number; ports: number[]; count: number; first: number; channels: number; inFlight: number }
  /** Cut every proxied connection at once; the clients reconnect with full-jitter backoff and resume. */
  | { type: "cut"; id: number }
  | { type: "status"; id: number }
  /** After the publisher stopped: how many clients do not hold their channel's last seq (`lastSeqs[c]`). */
  | { type: "check"; id: number; lastSeqs: number[] }
  | { type: "cpu"; id: number };

export interface StormStatus {
  clients: number;
  /** Clients resumed (acked `recovered`, replay received) since the last cut. */
  recovered: number;
  /** Milliseconds from the cut until each recovered client was live again, sorted. */
  recoverMs: number[];
  /** Connection attempts since the cut, failed ones included. */
  attempts: number;
  failedAttempts: number;
  received: number;
  duplicates: number;
  gaps: number;
  notRecovered: number;
  /** Error frames received (a subscribe refused, e.g. `unavailable`): the client then tries again. */
  errors: number;
  /** Live subscriptions that skipped a seq and resubscribed from their last one, as the SDK does. */
  gapsRepaired: number;
  problems: string[];
}

export type StormReport =
  | { type: "ready" }
  | { type: "done"; id: number }
  | { type: "failed"; id: number; text: string }
  | ({ type: "status"; id: number } & StormStatus)
  | { type: "checked"; id: number; behind: number; problems: string[] }
  | { type: "cpu"; id: number; seconds: number };
