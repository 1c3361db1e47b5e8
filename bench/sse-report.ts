// Text for the sse scenario: one line per pass while it runs, and the table of SSE against WebSocket with the 2x targets.

import type { SsePass, SseSummary } from "./sse.ts";
import { READER_KINDS } from "./sse.ts";
import type { ReaderKind } from "./sse-loadgen-messages.ts";
import { formatNumber, median, table } from "./stats.ts";

/** SSE may cost at most this many times what a WebSocket subscriber does, in CPU per delivery and in memory per reader. */
export const SSE_TARGET_RATIO = 2;

const LABELS: Record<ReaderKind, string> = { ws: "WebSocket", sse: "SSE" };

export function describeSseRound(pass: SsePass): string {
  const figures =
    `${formatNumber(pass.deliveriesPerSecond)} deliveries/s, server ${formatNumber(pass.serverNanosPerDelivery)} ns CPU/delivery, ` +
    `load generators ${formatNumber(pass.loadgenBusy * 100)}% of a core`;
  return pass.problems.length === 0 ? figures : `${figures}  PROBLEMS: ${pass.problems.slice(0, 3).join("; ")}`;
}

const against = (ratio: number) => `${formatNumber(ratio, 2)}x ${ratio <= SSE_TARGET_RATIO ? `(target <= ${SSE_TARGET_RATIO}x: met)` : `(target <= ${SSE_TARGET_RATIO}x: NOT MET)`}`;

export function sseReport(summaries: SseSummary[]): string {
  const rows: string[][] = [];
  for (const summary of summaries) {
    const figures = (kind: ReaderKind) => {
      const passes = summary.passes.filter((pass) => pass.kind === kind);
      const middle = (pick: (pass: SsePass) => number) => median(passes.map(pick));
      return {
        clean: passes.every((pass) => pass.problems.length === 0),
        throughput: middle((pass) => pass.deliveriesPerSecond),
        cpu: middle((pass) => pass.serverNanosPerDelivery),
        loadgenBusy: middle((pass) => pass.loadgenBusy),
        bytes: median(summary.memory.filter((entry) => entry.kind === kind).map((entry) => entry.bytesPerReader)),
      };
    };
    const byKind = { ws: figures("ws"), sse: figures("sse") };
    for (const kind of READER_KINDS) {
      const figure = byKind[kind];
      rows.push([
        String(summary.readers),
        LABELS[kind] + (figure.clean ? "" : " (problems)"),
        formatNumber(figure.throughput),
        formatNumber(figure.cpu),
        formatNumber(figure.bytes),
        `${formatNumber(figure.loadgenBusy * 100)}%`,
      ]);
    }
    rows.push([
      String(summary.readers),
      "ratio SSE/WebSocket",
      `${formatNumber(byKind.sse.throughput / byKind.ws.throughput, 2)}x`,
      against(byKind.sse.cpu / byKind.ws.cpu),
      against(byKind.sse.bytes / byKind.ws.bytes),
      "",
    ]);
  }
  return table(["readers", "transport", "deliveries/s (median)", "server CPU ns/delivery", "server RSS bytes per reader", "load generators CPU"], rows);
}
