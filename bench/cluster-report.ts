// Text for the cluster scenario: one line per round while it runs, and the table of medians with ratios between deployments.

import { DEPLOYMENTS, type ClusterRound, type ClusterSummary, type Deployment } from "./cluster.ts";
import { formatNumber, median, table } from "./stats.ts";

const ms = (value: number) => formatNumber(value, 2);
const ratio = (value: number, reference: number) => `${formatNumber(value / reference, 2)}x`;

export function describeClusterRound(round: ClusterRound): string {
  const redis = Number.isNaN(round.redisMicrosPerPublication) ? "" : `, Redis ${formatNumber(round.redisMicrosPerPublication, 1)} µs CPU/publication`;
  const figures =
    `${formatNumber(round.deliveriesPerSecond)} deliveries/s (${formatNumber(round.publicationsPerSecond)} publications/s), ` +
    `loaded p50/p99 ${ms(round.loadedP50Ms)}/${ms(round.loadedP99Ms)} ms, unloaded p50/p99 ${ms(round.unloadedP50Ms)}/${ms(round.unloadedP99Ms)} ms, ` +
    `nodes ${formatNumber(round.nodeNanosPerDelivery)} ns CPU/delivery${redis}, client busy ${formatNumber(round.clientBusy * 100)}%`;
  return round.problems.length === 0 ? figures : `${figures}  PROBLEMS: ${round.problems.slice(0, 3).join("; ")}`;
}

const LABELS: Record<Deployment, string> = {
  memory: "1 node, memory broker",
  "redis-1": "1 node, Redis",
  "redis-2": "2 nodes, Redis",
};

// Each figure is the median over the rounds; the ratios are those of the medians.
export function clusterReport(summaries: ClusterSummary[]): string {
  const rows: string[][] = [];
  for (const summary of summaries) {
    const figures = (deployment: Deployment) => {
      const rounds = summary.rounds.filter((round) => round.deployment === deployment);
      const middle = (pick: (round: ClusterRound) => number) => median(rounds.map(pick));
      return {
        clean: rounds.every((round) => round.problems.length === 0),
        throughput: middle((round) => round.deliveriesPerSecond),
        publications: middle((round) => round.publicationsPerSecond),
        loadedP50: middle((round) => round.loadedP50Ms),
        loadedP99: middle((round) => round.loadedP99Ms),
        unloadedP50: middle((round) => round.unloadedP50Ms),
        unloadedP99: middle((round) => round.unloadedP99Ms),
        nodeCpu: middle((round) => round.nodeNanosPerDelivery),
        redisCpu: middle((round) => round.redisMicrosPerPublication),
        clientBusy: middle((round) => round.clientBusy),
      };
    };
    const byDeployment = Object.fromEntries(DEPLOYMENTS.map((deployment) => [deployment, figures(deployment)])) as Record<Deployment, ReturnType<typeof figures>>;
    for (const deployment of DEPLOYMENTS) {
      const figure = byDeployment[deployment];
      rows.push([
        String(summary.subscribers),
        LABELS[deployment] + (figure.clean ? "" : " (PROBLEMS)"),
        formatNumber(figure.throughput),
        formatNumber(figure.publications),
        `${ms(figure.loadedP50)} / ${ms(figure.loadedP99)}`,
        `${ms(figure.unloadedP50)} / ${ms(figure.unloadedP99)}`,
        formatNumber(figure.nodeCpu),
        Number.isNaN(figure.redisCpu) ? "" : formatNumber(figure.redisCpu, 1),
        `${formatNumber(figure.clientBusy * 100)}%`,
      ]);
    }
    const comparisons: [Deployment, Deployment][] = [
      ["redis-2", "memory"],
      ["redis-1", "memory"],
      ["redis-2", "redis-1"],
    ];
    for (const [measured, reference] of comparisons) {
      const mine = byDeployment[measured];
      const theirs = byDeployment[reference];
      rows.push([
        String(summary.subscribers),
        `ratio ${measured} / ${reference}`,
        ratio(mine.throughput, theirs.throughput),
        "",
        `${ratio(mine.loadedP50, theirs.loadedP50)} / ${ratio(mine.loadedP99, theirs.loadedP99)}`,
        `${ratio(mine.unloadedP50, theirs.unloadedP50)} / ${ratio(mine.unloadedP99, theirs.unloadedP99)}`,
        ratio(mine.nodeCpu, theirs.nodeCpu),
        "",
        "",
      ]);
    }
  }
  return table(
    [
      "subscribers",
      "deployment",
      "deliveries/s (median)",
      "publications/s",
      "loaded p50 / p99 ms",
      "unloaded p50 / p99 ms",
      "node CPU ns/delivery",
      "Redis CPU µs/publication",
      "bench client CPU",
    ],
    rows,
  );
}
