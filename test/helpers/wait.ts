// The test suite's one polling helper: wait for a condition to hold, never for a fixed time.

export interface WaitOptions {
  /** Longest wait before failing; a safety net for a hung test, never a timing assertion. */
  timeoutMs?: number;
  /** Pause between checks. */
  intervalMs?: number;
}

/**
 * Resolves once `condition` (sync or async) returns true; rejects naming `what` when it has not after
 * `timeoutMs`. An exception thrown by the condition fails the wait at once.
 */
export async function waitFor(condition: () => boolean | Promise<boolean>, what: string, options: WaitOptions = {}): Promise<void> {
  const { timeoutMs = 10_000, intervalMs = 10 } = options;
  // The monotonic clock: a test that sets the system time (setSystemTime) must not end or stretch the wait.
  const deadline = performance.now() + timeoutMs;
  while (!(await condition())) {
    if (performance.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await Bun.sleep(intervalMs);
  }
}
