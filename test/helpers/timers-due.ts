// Ordering against timers the code under test armed (a reconnect, a backoff), for asserting what they
// did or did not do however fast or slow the machine is.

/**
 * Resolves after every timer armed before the call with a delay of at most `delayMs` has fired, and the
 * promise callbacks those timers queued have run. Timers fire in the order they fall due, so this is an
 * ordering rather than a guess at how long something takes: "nothing reconnected" after it means no
 * reconnect was scheduled within `delayMs`, not that one was slow.
 */
export function afterTimersDue(delayMs: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, delayMs + 1));
}
