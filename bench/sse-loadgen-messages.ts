// What the sse scenario and its load-generator processes (bench/sse-loadgen.ts) tell each other over IPC.

export type ReaderKind = "ws" | "sse";

/** From the bench to a load generator; each `id` is answered by a report with the same id. */
export type LoadgenCommand =
  | { type: "open"; id: number; kind: ReaderKind; count: number; batch: number; channel: string; token: string; wsUrl: string; httpUrl: string }
  | { type: "cpu"; id: number }
  | { type: "close"; id: number };

/** A command before the bench numbers it (Omit of each member: Omit of a union keeps only the shared keys). */
type WithoutId<Command> = Command extends unknown ? Omit<Command, "id"> : never;
export type LoadgenRequest = WithoutId<LoadgenCommand>;

/** From a load generator to the bench. */
export type LoadgenReport =
  | { type: "ready" }
  | { type: "opened"; id: number }
  | { type: "failed"; id: number; text: string }
  | { type: "cpu"; id: number; seconds: number }
  | { type: "closed"; id: number }
  /** Every reader of `channel` in this process has every seq up to `seq`. */
  | { type: "complete"; channel: string; seq: number }
  | { type: "problem"; text: string };
