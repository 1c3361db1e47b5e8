// What the capacity scenario and its load-generator processes (bench/capacity-loadgen.ts) tell each other over IPC.

/** From the bench to a load generator; each `id` is answered by a report with the same id. */
export type CapacityCommand =
  /** Sign the tokens of users `${prefix}${first}`... before the clock starts (signing is the clients' cost, not the server's). */
  | { type: "prepare"; id: number; count: number; first: number; prefix: string }
  | {
      type: "open";
      id: number;
      url: string;
      /** One token for every connection, or undefined: the i-th connection is user `${prefix}${first + i}` with a token of its own. */
      token: string | undefined;
      /** Connections to open; the i-th subscribes to `user:${prefix}${first + i}`, its user's own namespace. */
      count: number;
      first: number;
      prefix: string;
      /** Set-ups under way at once in this process. */
      inFlight: number;
    };

export type CapacityReport =
  | { type: "ready" }
  | { type: "prepared"; id: number }
  | { type: "opened"; id: number; ms: number }
  | { type: "failed"; id: number; text: string };
