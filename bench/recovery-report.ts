// Text for the recovery scenario: one line per phase while it runs, and the table of medians per mode and phase.

import { RECOVERY_MODES, type Phase, type RecoveryPhase } from "./recovery.ts";
import { formatNumber, median, table } from "./stats.ts";

const ms = (value: number) => formatNumber(value, 2);

export function describeRecoveryPhase(phase: RecoveryPhase): string {
  const resumes =
    phase.phase === "churn"
      ? `, ${phase.resumes} resumes (${phase.notRecovered} not recovered, ${phase.gaps} gaps, ${phase.duplicates} duplicates): connect p50 ${ms(phase.connectP50Ms)} ms, subscribe->ack p50/p99 ` +
        `${ms(phase.resumeP50Ms)}/${ms(phase.resumeP99Ms)} ms, caught up p50/p99 ${ms(phase.catchUpP50Ms)}/${ms(phase.catchUpP99Ms)} ms, ` +
        `replayed median ${formatNumber(phase.replayedMedian)} (max ${formatNumber(phase.replayedMax)})`
      : "";
  const figures =
    `${formatNumber(phase.publishedPerSecond)} of ${formatNumber(phase.targetRate)} publications/s (${phase.behind} behind), ` +
    `publish->ack p50/p99 ${ms(phase.ackP50Ms)}/${ms(phase.ackP99Ms)} ms, delivery p50/p99 ${ms(phase.deliveryP50Ms)}/${ms(phase.deliveryP99Ms)} ms, ` +
    `server CPU ${formatNumber(phase.serverCoreShare * 100)}%${resumes}`;
  return phase.problems.length === 0 ? figures : `${figures}  PROBLEMS: ${phase.problems.slice(0, 3).join("; ")}`;
}

// Each figure is the median over the rounds.
export function recoveryReport(phases: RecoveryPhase[]): string {
  const rows: string[][] = [];
  for (const mode of RECOVERY_MODES) {
    for (const phase of ["steady", "churn"] as Phase[]) {
      const mine = phases.filter((entry) => entry.mode === mode && entry.phase === phase);
      if (mine.length === 0) continue;
      const middle = (pick: (entry: RecoveryPhase) => number) => median(mine.map(pick));
      const clean = mine.every((entry) => entry.problems.length === 0 && entry.notRecovered === 0);
      const total = (pick: (entry: RecoveryPhase) => number) => mine.reduce((sum, entry) => sum + pick(entry), 0);
      const churning = phase === "churn";
      rows.push([
        mode,
        phase,
        `${formatNumber(middle((entry) => entry.publishedPerSecond))} of ${formatNumber(mine[0]!.targetRate)}`,
        `${ms(middle((entry) => entry.ackP50Ms))} / ${ms(middle((entry) => entry.ackP99Ms))}`,
        `${ms(middle((entry) => entry.deliveryP50Ms))} / ${ms(middle((entry) => entry.deliveryP99Ms))}`,
        `${formatNumber(middle((entry) => entry.serverCoreShare * 100))}%`,
        churning ? formatNumber(middle((entry) => entry.resumes)) : "",
        churning ? `${ms(middle((entry) => entry.resumeP50Ms))} / ${ms(middle((entry) => entry.resumeP99Ms))}` : "",
        churning ? `${ms(middle((entry) => entry.catchUpP50Ms))} / ${ms(middle((entry) => entry.catchUpP99Ms))}` : "",
        churning ? `${formatNumber(middle((entry) => entry.replayedMedian))} (max ${formatNumber(Math.max(...mine.map((entry) => entry.replayedMax)))})` : "",
        clean
          ? "0 / 0 / 0"
          : `${total((entry) => entry.gaps)} / ${total((entry) => entry.duplicates)} / ${total((entry) => entry.notRecovered)} (${total((entry) => entry.resumes)} resumes)`,
      ]);
    }
  }
  const problems = phases.flatMap((phase) => phase.problems.map((problem) => `- ${phase.mode} round ${phase.round} ${phase.phase}: ${problem}`));
  const listed = problems.length === 0 ? "" : `\n\nFirst problems:\n${problems.slice(0, 6).join("\n")}`;
  return table(
    [
      "mode",
      "phase",
      "publications/s (of target)",
      "publish->ack p50 / p99 ms",
      "delivery p50 / p99 ms",
      "server CPU",
      "resumes per phase",
      "subscribe->ack p50 / p99 ms",
      "caught up p50 / p99 ms",
      "replayed per resume, median",
      "gaps / duplicates / failed recoveries (all rounds)",
    ],
    rows,
  ) + listed;
}
