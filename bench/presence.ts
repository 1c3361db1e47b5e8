// Scenario "presence": memory per present client on the in-memory presence engine, in process. The ids
// and user names exist before the clients join (a connection has them anyway), so what is measured is
// what presence adds; a Map from the same ids to a number, measured the same way, is the baseline.

import { heapStats } from "bun:jsc";
import { MemoryPresence } from "../src/broker/memory-presence.ts";
import { formatBytes, formatNumber, median, table } from "./stats.ts";

export interface PresenceOptions {
  clients: number;
  rounds: number;
}

type Layout = "shared" | "own";

export interface PresenceRound {
  layout: Layout;
  clients: number;
  presenceBytes: number;
  baselineBytes: number;
}

function heapSize(): number {
  Bun.gc(true);
  Bun.gc(true);
  return heapStats().heapSize;
}

/** Bytes `fill` keeps alive on the heap, per item. */
function measure(count: number, fill: () => unknown): { perItem: number; kept: unknown } {
  const before = heapSize();
  const kept = fill();
  const after = heapSize();
  return { perItem: (after - before) / count, kept };
}

function round(layout: Layout, clients: number): PresenceRound {
  // Like connection ids and users: a uuid each, a user per ten clients.
  const ids = Array.from({ length: clients }, () => crypto.randomUUID());
  const users = Array.from({ length: Math.ceil(clients / 10) }, (_, index) => `user-${index}`);
  const channels = layout === "shared" ? ["room"] : ids.map((id) => `user:${id.slice(0, 8)}`);
  const since = Date.now() / 1000;
  const presence = measure(clients, () => {
    const engine = new MemoryPresence();
    for (let index = 0; index < clients; index++) void engine.join(channels[index % channels.length]!, { user: users[index % users.length]!, client: ids[index]!, since });
    return engine;
  });
  const baseline = measure(clients, () => {
    const byChannel = new Map<string, Map<string, number>>();
    for (let index = 0; index < clients; index++) {
      const channel = channels[index % channels.length]!;
      let members = byChannel.get(channel);
      if (!members) byChannel.set(channel, (members = new Map()));
      members.set(ids[index]!, index);
    }
    return byChannel;
  });
  if ((presence.kept as MemoryPresence).size !== clients) throw new Error("presence lost clients");
  return { layout, clients, presenceBytes: presence.perItem, baselineBytes: baseline.perItem };
}

export async function runPresence(options: PresenceOptions): Promise<PresenceRound[]> {
  const rounds: PresenceRound[] = [];
  for (const layout of ["shared", "own"] as const) {
    for (let index = 0; index < options.rounds; index++) {
      const result = round(layout, options.clients);
      console.log(`presence: ${layout} ${formatNumber(options.clients)} clients, ${result.presenceBytes.toFixed(0)} B each (baseline ${result.baselineBytes.toFixed(0)} B)`);
      rounds.push(result);
    }
  }
  return rounds;
}

export function presenceReport(rounds: PresenceRound[]): string {
  const rows = (["shared", "own"] as const).map((layout) => {
    const mine = rounds.filter((round) => round.layout === layout);
    const presence = median(mine.map((round) => round.presenceBytes));
    const baseline = median(mine.map((round) => round.baselineBytes));
    return [
      layout === "shared" ? "all on one channel" : "a channel each",
      formatNumber(mine[0]!.clients),
      formatBytes(presence),
      formatBytes(baseline),
      `${(presence / baseline).toFixed(2)}x`,
    ];
  });
  return [
    "Heap kept per present client by the in-memory presence engine (median of rounds; ids and user names",
    "counted elsewhere: a connection holds them anyway). Baseline: a Map per channel from the same ids to a number.",
    "",
    table(["layout", "clients", "presence", "baseline", "ratio"], rows),
  ].join("\n");
}
