// The memory engine's byte accounting against what its histories really take, measured on this runtime
// in a process of its own (fixtures/memory-history-measure.ts): the allocator's count is the process's.

import { expect, test } from "bun:test";
import { PUBLICATION_OVERHEAD_BYTES } from "../../src/broker/history-cost.ts";

async function measure(...args: string[]): Promise<Record<string, number>> {
  const child = Bun.spawn([process.execPath, `${import.meta.dir}/fixtures/memory-history-measure.ts`, ...args], { stdout: "pipe", stderr: "inherit" });
  const [output, code] = await Promise.all([new Response(child.stdout).text(), child.exited]);
  expect(code).toBe(0);
  return JSON.parse(output) as Record<string, number>;
}

test("what the memory engine counts covers what its histories really take", async () => {
  const { grown, counted, kept, perPublication, origin } = await measure("flood");
  expect(kept).toBe(200_000);
  // Publications and channels both: ten publications on each of 20,000 channels.
  expect(grown).toBeLessThanOrEqual(counted!);
  expect(perPublication).toBeLessThanOrEqual(PUBLICATION_OVERHEAD_BYTES + "user:alice:1234".length + 2 + origin!);
});

test("with a small HISTORY_MAX_BYTES a flood of empty publications keeps what it holds within the budget", async () => {
  const budget = 1024 * 1024;
  const { counted, kept, perPublication } = await measure("budget", String(budget));
  expect(counted).toBeLessThanOrEqual(budget);
  // Kept publications at what each really takes still fit in the budget.
  expect(kept! * perPublication!).toBeLessThanOrEqual(budget);
  expect(kept).toBeGreaterThan(0);
});
