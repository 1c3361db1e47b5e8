// Scenario "memory": server RSS growth per idle, authenticated, subscribed connection.

import { checkFileLimit, closeAll, connectAndSubscribe, openMany } from "./clients.ts";
import { SERVER_KINDS, startServer, type ServerKind } from "./servers.ts";
import { formatBytes, formatNumber, median, table } from "./stats.ts";

export interface MemoryOptions {
  connections: number;
  rounds: number;
  /** "own": each connection subscribes to its own channel `user:bench:<i>`; "shared": all to one channel. */
  channels: "own" | "shared";
  /** Connections opened and kept before the first reading, so one-time costs (JIT, lazy init) are not counted. */
  warmupConnections: number;
  settleMs: number;
  connectBatch: number;
}

export interface MemoryRound {
  kind: ServerKind;
  connections: number;
  channels: MemoryOptions["channels"];
  rssBefore: number;
  rssAfter: number;
  bytesPerConnection: number;
}

function channelFor(options: MemoryOptions, index: number): string {
  return options.channels === "own" ? `user:bench:${index}` : "bench-idle";
}

/** RSS once it stops moving: the lowest of a few readings over `settleMs`, after GC and allocator scavenging had a chance. */
export async function settledRss(read: () => number, settleMs: number): Promise<number> {
  const readings: number[] = [];
  const step = Math.max(50, settleMs / 8);
  for (let waited = 0; waited < settleMs; waited += step) {
    await Bun.sleep(step);
    readings.push(read());
  }
  return Math.min(...readings.slice(-4));
}

async function measure(kind: ServerKind, options: MemoryOptions): Promise<MemoryRound> {
  const server = await startServer(kind);
  const sockets: WebSocket[] = [];
  try {
    const open = (offset: number) => (index: number) => connectAndSubscribe(server.url, channelFor(options, offset + index));
    sockets.push(...(await openMany(options.warmupConnections, options.connectBatch, open(0))));
    const rssBefore = await settledRss(server.rss, options.settleMs);
    sockets.push(...(await openMany(options.connections, options.connectBatch, open(options.warmupConnections))));
    const rssAfter = await settledRss(server.rss, options.settleMs);
    return { kind, connections: options.connections, channels: options.channels, rssBefore, rssAfter, bytesPerConnection: (rssAfter - rssBefore) / options.connections };
  } finally {
    await closeAll(sockets);
    await server.stop();
  }
}

export async function runMemory(options: MemoryOptions): Promise<MemoryRound[]> {
  console.log(
    `memory: ${options.connections} idle connections (${options.channels} channels) after ${options.warmupConnections} warm-up ones, ` +
      `settle ${options.settleMs} ms, ${options.rounds} rounds per server, a fresh server each time`,
  );
  checkFileLimit(options.warmupConnections + options.connections);
  const rounds: MemoryRound[] = [];
  for (let round = 0; round < options.rounds; round++) {
    const order = round % 2 === 0 ? SERVER_KINDS : [...SERVER_KINDS].reverse();
    for (const kind of order) {
      const result = await measure(kind, options);
      rounds.push(result);
      console.log(
        `  memory round ${round + 1} ${kind.padEnd(9)} RSS ${formatBytes(result.rssBefore)} -> ${formatBytes(result.rssAfter)}, ` +
          `${formatNumber(result.bytesPerConnection)} B per connection`,
      );
    }
  }
  return rounds;
}

export function memoryReport(rounds: MemoryRound[]): string {
  const perConnection = (kind: ServerKind) => median(rounds.filter((round) => round.kind === kind).map((round) => round.bytesPerConnection));
  const rows = SERVER_KINDS.map((kind) => {
    const mine = rounds.filter((round) => round.kind === kind);
    return [
      kind,
      String(mine[0]?.connections ?? 0),
      mine[0]?.channels ?? "",
      formatBytes(median(mine.map((round) => round.rssBefore))),
      formatBytes(median(mine.map((round) => round.rssAfter))),
      formatNumber(perConnection(kind)),
    ];
  });
  const ratio = perConnection("agentwire") / perConnection("baseline");
  rows.push(["ratio agentwire/baseline", "", "", "", "", `${formatNumber(ratio, 2)}x ${ratio <= 1.5 ? "(goal <= 1.5: met)" : "(goal <= 1.5: MISSED)"}`]);
  return table(["server", "connections", "channels", "RSS before (median)", "RSS after (median)", "bytes per connection (median)"], rows);
}
