// Text for the fanout scenario: one line per round while it runs, and the summary table of medians and ratios.

import type { FanoutRound, FanoutSummary } from "./fanout.ts";
import { SERVER_KINDS, type ServerKind } from "./servers.ts";
import { formatNumber, median, table } from "./stats.ts";

const ms = (value: number) => formatNumber(value, 2);

export function describeRound(round: FanoutRound): string {
  const figures =
    `${formatNumber(round.deliveriesPerSecond)} deliveries/s, loaded p50/p99 ${ms(round.loadedP50Ms)}/${ms(round.loadedP99Ms)} ms, ` +
    `unloaded p50/p99 ${ms(round.unloadedP50Ms)}/${ms(round.unloadedP99Ms)} ms, ` +
    `server ${formatNumber(round.serverNanosPerDelivery)} ns CPU/delivery, client busy ${formatNumber(round.clientBusy * 100)}%`;
  return round.problems.length === 0 ? figures : `${figures}  PROBLEMS: ${round.problems.slice(0, 3).join("; ")}`;
}

// Each figure is the median over the rounds; the ratios are those of the medians.
const ratio = (agentwire: number, baseline: number) => `${formatNumber(agentwire / baseline, 2)}x`;

export function fanoutReport(summaries: FanoutSummary[]): string {
  const rows: string[][] = [];
  for (const summary of summaries) {
    const figures = (kind: ServerKind) => {
      const rounds = summary[kind];
      const middle = (pick: (round: FanoutRound) => number) => median(rounds.map(pick));
      return {
        clean: rounds.every((round) => round.problems.length === 0),
        throughput: middle((round) => round.deliveriesPerSecond),
        slowest: Math.min(...rounds.map((round) => round.deliveriesPerSecond)),
        fastest: Math.max(...rounds.map((round) => round.deliveriesPerSecond)),
        loadedP50: middle((round) => round.loadedP50Ms),
        loadedP99: middle((round) => round.loadedP99Ms),
        unloadedP50: middle((round) => round.unloadedP50Ms),
        unloadedP99: middle((round) => round.unloadedP99Ms),
        cpu: middle((round) => round.serverNanosPerDelivery),
        clientBusy: middle((round) => round.clientBusy),
      };
    };
    const byKind = { agentwire: figures("agentwire"), baseline: figures("baseline") };
    const { agentwire, baseline } = byKind;
    for (const kind of SERVER_KINDS) {
      const figure = byKind[kind];
      rows.push([
        String(summary.subscribers),
        kind + (figure.clean ? "" : " (problems)"),
        formatNumber(figure.throughput),
        `${formatNumber(figure.slowest)} - ${formatNumber(figure.fastest)}`,
        `${ms(figure.loadedP50)} / ${ms(figure.loadedP99)}`,
        `${ms(figure.unloadedP50)} / ${ms(figure.unloadedP99)}`,
        formatNumber(figure.cpu),
        `${formatNumber(figure.clientBusy * 100)}%`,
      ]);
    }
    const throughputRatio = agentwire.throughput / baseline.throughput;
    rows.push([
      String(summary.subscribers),
      "ratio agentwire/baseline",
      `${formatNumber(throughputRatio, 2)}x ${throughputRatio >= 0.8 ? "(goal >= 0.8: met)" : "(goal >= 0.8: MISSED)"}`,
      "",
      `${ratio(agentwire.loadedP50, baseline.loadedP50)} / ${ratio(agentwire.loadedP99, baseline.loadedP99)}`,
      `${ratio(agentwire.unloadedP50, baseline.unloadedP50)} / ${ratio(agentwire.unloadedP99, baseline.unloadedP99)}`,
      ratio(agentwire.cpu, baseline.cpu),
      "",
    ]);
  }
  return table(
    [
      "subscribers",
      "server",
      "deliveries/s (median)",
      "slowest - fastest round",
      "loaded p50 / p99 ms",
      "unloaded p50 / p99 ms",
      "server CPU ns/delivery",
      "bench client CPU",
    ],
    rows,
  );
}
