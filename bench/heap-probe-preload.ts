// Preloaded into a server by bench/heap-probe.ts: on SIGUSR2, a full collection, then the heap's figures
// appended as one JSON line to HEAP_PROBE_OUT. Not part of any other scenario.

import { heapStats } from "bun:jsc";
import { appendFileSync } from "node:fs";

process.on("SIGUSR2", () => {
  Bun.gc(true);
  Bun.gc(true);
  const stats = heapStats();
  appendFileSync(
    process.env.HEAP_PROBE_OUT!,
    `${JSON.stringify({
      heapSize: stats.heapSize,
      heapCapacity: stats.heapCapacity,
      objectCount: stats.objectCount,
      rss: process.memoryUsage().rss,
      types: stats.objectTypeCounts,
    })}\n`,
  );
});
