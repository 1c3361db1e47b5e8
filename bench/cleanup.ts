// Undo steps for state the bench creates outside its own processes (databases, Redis keys), run even on abort.

type Cleanup = () => Promise<void>;

const pending = new Set<Cleanup>();

/** Registers an undo step; call the returned function once it has run on the normal path. */
export function registerCleanup(cleanup: Cleanup): () => void {
  pending.add(cleanup);
  return () => void pending.delete(cleanup);
}

/** Runs every undo step still registered, each bounded, so an abort cannot hang on an unreachable service. */
export async function runCleanups(timeoutMs: number): Promise<void> {
  const steps = [...pending];
  pending.clear();
  await Promise.all(
    steps.map((step) =>
      Promise.race([
        step().catch((error) => console.error(`bench: cleanup failed: ${(error as Error).message}`)),
        Bun.sleep(timeoutMs).then(() => console.error(`bench: a cleanup step did not finish within ${timeoutMs} ms`)),
      ]),
    ),
  );
}
