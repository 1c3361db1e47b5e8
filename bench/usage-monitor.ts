// CPU and RSS of server processes over a stretch of time: CPU from the counters, RSS sampled for its peak.

import type { RunningServer } from "./servers.ts";

export interface Usage {
  seconds: number;
  /** Server CPU time (user + system) over the stretch, all processes together, as a share of one core. */
  serverCoreShare: number;
  /** Highest RSS seen, all processes together. */
  peakRss: number;
  /** Share of one core the bench process itself used: near 1 means the clients (or the fake model) were the limit. */
  clientCoreShare: number;
}

export interface UsageMonitor {
  stop(): Usage;
}

/** Starts watching now; RSS is read every `intervalMs` until stop(). */
export function monitorUsage(servers: RunningServer[], intervalMs = 100): UsageMonitor {
  const totalRss = () => servers.reduce((total, server) => total + server.rss(), 0);
  const totalCpu = () => servers.reduce((total, server) => total + server.cpuSeconds(), 0);
  const cpuAtStart = totalCpu();
  const clientAtStart = process.cpuUsage();
  const startedAt = performance.now();
  let peakRss = totalRss();
  const timer = setInterval(() => {
    peakRss = Math.max(peakRss, totalRss());
  }, intervalMs);
  return {
    stop() {
      clearInterval(timer);
      peakRss = Math.max(peakRss, totalRss());
      const seconds = (performance.now() - startedAt) / 1000;
      const client = process.cpuUsage(clientAtStart);
      return {
        seconds,
        serverCoreShare: (totalCpu() - cpuAtStart) / seconds,
        peakRss,
        clientCoreShare: (client.user + client.system) / 1e6 / seconds,
      };
    },
  };
}
