// Whether a promise has settled within the current turn of the event loop: for asserting that something
// happens at once (with no timer or I/O in between) without measuring how long it took.

export type SettledNow<T> = { status: "fulfilled"; value: T } | { status: "rejected"; reason: unknown } | { status: "pending" };

/** The promise's outcome once the callbacks already queued have run; `pending` when it waits for a timer or I/O. */
export function settledNow<T>(promise: Promise<T>): Promise<SettledNow<T>> {
  const outcome = promise.then(
    (value): SettledNow<T> => ({ status: "fulfilled", value }),
    (reason: unknown): SettledNow<T> => ({ status: "rejected", reason }),
  );
  const turn = new Promise<SettledNow<T>>((resolve) => setImmediate(() => resolve({ status: "pending" })));
  return Promise.race([outcome, turn]);
}
