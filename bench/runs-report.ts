// Text for the runs scenario: one line per pass while it runs, and the table of medians per COALESCE_MS and run count.

import type { RunsPass } from "./runs.ts";
import { formatBytes, formatNumber, median, table } from "./stats.ts";

const ms = (value: number) => formatNumber(value, 1);
const percent = (share: number) => `${formatNumber(share * 100)}%`;

export function describeRunsPass(pass: RunsPass): string {
  const figures =
    `${pass.runs} runs: ${pass.concurrentRuns} concurrent, ${pass.completedRuns} exact, ${formatNumber(pass.framesPerSecond)} frames/s, ` +
    `${formatNumber(pass.tokenRate, 1)} tokens/s per run, added latency mean ${ms(pass.meanMs)}, p50/p99/max ${ms(pass.p50Ms)}/${ms(pass.p99Ms)}/${ms(pass.maxMs)} ms, ` +
    `server CPU ${percent(pass.serverCoreShare)}, RSS ${formatBytes(pass.idleRss)} -> ${formatBytes(pass.peakRss)}, client CPU ${percent(pass.clientCoreShare)}`;
  return pass.problems.length === 0 ? figures : `${figures}  PROBLEMS: ${pass.problems.slice(0, 3).join("; ")}`;
}

export function runsReport(passes: RunsPass[]): string {
  const groups = new Map<string, RunsPass[]>();
  for (const pass of passes) {
    const key = `${pass.coalesceMs}/${pass.runs}`;
    groups.set(key, [...(groups.get(key) ?? []), pass]);
  }
  const rows = [...groups.values()].map((group) => {
    const first = group[0]!;
    const middle = (pick: (pass: RunsPass) => number) => median(group.map(pick));
    const clean = group.every((pass) => pass.problems.length === 0 && pass.completedRuns === pass.runs);
    return [
      String(first.coalesceMs),
      String(first.runs),
      String(first.subscribersPerRun),
      `${Math.min(...group.map((pass) => pass.concurrentRuns))}`,
      clean ? "all" : `PROBLEMS (${group.map((pass) => pass.completedRuns).join(", ")} exact)`,
      formatNumber(middle((pass) => pass.framesPerSecond)),
      `${ms(middle((pass) => pass.meanMs))} / ${ms(middle((pass) => pass.p50Ms))} / ${ms(middle((pass) => pass.p99Ms))}`,
      percent(middle((pass) => pass.serverCoreShare)),
      first.floorCoreShare === undefined ? "-" : percent(first.floorCoreShare),
      `${formatBytes(middle((pass) => pass.idleRss))} -> ${formatBytes(middle((pass) => pass.peakRss))}`,
      percent(middle((pass) => pass.clientCoreShare)),
    ];
  });
  return table(
    [
      "COALESCE_MS",
      "runs",
      "subscribers per run",
      "concurrent (lowest)",
      "exact runs",
      "frames/s delivered",
      "added latency mean / p50 / p99 ms",
      "server CPU",
      "model streams alone CPU",
      "server RSS idle -> peak",
      "bench client CPU",
    ],
    rows,
  );
}
