// What a connection keeps on the server's heap: the capacity scenario's connections (each its own user
// and token, subscribed to its own namespace) opened into an agentwire server with a probe preloaded,
// the heap read after a full collection before and after them. Figures per connection, and the object
// types that grew. Run it alone: `bun run bench/heap-probe.ts [connections]` (default 19,000).

import { existsSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openSpread, type Loadgen } from "./capacity.ts";
import type { CapacityCommand, CapacityReport } from "./capacity-messages.ts";
import { startServer, type RunningServer } from "./servers.ts";
import { WorkerProcess } from "./worker-process.ts";

interface Probe {
  heapSize: number;
  heapCapacity: number;
  objectCount: number;
  rss: number;
  types: Record<string, number>;
}

const connections = Number(process.argv[2] ?? 19_000);
const out = join(tmpdir(), `agentwire-heap-probe-${process.pid}.jsonl`);
process.env.BENCH_SERVER_BUN_OPTIONS = `--preload=${join(import.meta.dir, "heap-probe-preload.ts")}`;
const server = await startServer("agentwire", { HEAP_PROBE_OUT: out });
const loadgens: Loadgen[] = [0, 1].map(() => new WorkerProcess<CapacityCommand, CapacityReport>("./capacity-loadgen.ts"));
// The capacity scenario's in-flight set-ups, over both load generators.
const IN_FLIGHT = 100;

const probes = (): Probe[] => (existsSync(out) ? readFileSync(out, "utf8").split("\n").filter(Boolean).map((line) => JSON.parse(line) as Probe) : []);

async function probe(target: RunningServer): Promise<Probe> {
  const before = probes().length;
  process.kill(target.pid, "SIGUSR2");
  for (;;) {
    await Bun.sleep(100);
    const all = probes();
    if (all.length > before) return all.at(-1)!;
  }
}

try {
  await Promise.all(loadgens.map((loadgen) => loadgen.ready));
  await openSpread(loadgens, server, undefined, 100, "warm", IN_FLIGHT);
  const before = await probe(server);
  await openSpread(loadgens, server, undefined, connections, "u", IN_FLIGHT);
  const after = await probe(server);
  const per = (pick: (probe: Probe) => number) => ((pick(after) - pick(before)) / connections).toFixed(0);
  console.log(
    `${connections} connections: heap ${per((p) => p.heapSize)} B, heap capacity ${per((p) => p.heapCapacity)} B, ` +
      `RSS ${per((p) => p.rss)} B, ${((after.objectCount - before.objectCount) / connections).toFixed(2)} objects per connection`,
  );
  const grown = Object.entries(after.types)
    .map(([type, count]) => [type, (count - (before.types[type] ?? 0)) / connections] as const)
    .filter(([, perConnection]) => perConnection >= 0.05)
    .sort((a, b) => b[1] - a[1]);
  console.log(`per connection: ${grown.map(([type, perConnection]) => `${type} ${perConnection.toFixed(2)}`).join(", ")}`);
} finally {
  await Promise.all(loadgens.map((loadgen) => loadgen.kill()));
  await server.stop();
  rmSync(out, { force: true });
}
