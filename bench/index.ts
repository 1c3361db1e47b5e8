// Entry point of `bun run bench`: runs the chosen scenarios in order, then prints their reports together.

import { runCleanups } from "./cleanup.ts";
import { capacityReport, runCapacity } from "./capacity.ts";
import { runCluster } from "./cluster.ts";
import { clusterReport } from "./cluster-report.ts";
import { runFanout } from "./fanout.ts";
import { fanoutReport } from "./fanout-report.ts";
import { runMcp } from "./mcp.ts";
import { mcpReport } from "./mcp-report.ts";
import { memoryReport, runMemory } from "./memory.ts";
import { presenceReport, runPresence } from "./presence.ts";
import { runRecovery } from "./recovery.ts";
import { recoveryReport } from "./recovery-report.ts";
import { runRuns } from "./runs.ts";
import { runsReport } from "./runs-report.ts";
import { runSse } from "./sse.ts";
import { sseReport } from "./sse-report.ts";
import { runStorm, stormReport } from "./storm.ts";
import { UsageError, parseOptions, usage, type BenchOptions, type Scenario } from "./options.ts";
import { killAllServers, setAgentwireRoot } from "./servers.ts";
import { ServicesUnavailableError } from "./services.ts";
import { killAllWorkers } from "./worker-process.ts";

/** Each scenario runs and returns its report; a new scenario is one more entry here. */
const scenarios: Record<Scenario, (options: BenchOptions) => Promise<string>> = {
  fanout: async (options) => fanoutReport(await runFanout(options.fanout)),
  memory: async (options) => memoryReport(await runMemory(options.memory)),
  runs: async (options) => runsReport(await runRuns(options.runs)),
  cluster: async (options) => clusterReport(await runCluster(options.cluster)),
  recovery: async (options) => recoveryReport(await runRecovery(options.recovery)),
  sse: async (options) => sseReport(await runSse(options.sse)),
  capacity: async (options) => capacityReport(await runCapacity(options.capacity)),
  storm: async (options) => stormReport(await runStorm(options.storm)),
  presence: async (options) => presenceReport(await runPresence(options.presence)),
  mcp: async (options) => mcpReport(await runMcp(options.mcp)),
};

let aborting: Promise<never> | undefined;

/** Kills the servers first (so nothing holds the database), then drops what the bench made in Redis and PostgreSQL. */
function abort(message: string, code: number): Promise<never> {
  console.error(message);
  // A second reason to stop (a signal during the cleanup) must not cut the cleanup short.
  return (aborting ??= (async () => {
    killAllWorkers();
    killAllServers();
    await runCleanups(5_000);
    process.exit(code);
  })());
}

async function main(): Promise<void> {
  let options: BenchOptions | undefined;
  try {
    options = parseOptions(process.argv.slice(2), process.env);
  } catch (error) {
    if (!(error instanceof UsageError || (error as { code?: string }).code?.startsWith("ERR_PARSE_ARGS"))) throw error;
    await abort(`${(error as Error).message}\n\n${usage}`, 2);
  }
  if (!options) {
    console.log(usage);
    return;
  }
  setAgentwireRoot(options.agentwireRoot);
  const limit = options.timeoutMs;
  setTimeout(() => void abort(`bench: gave up after ${limit / 1000} s`, 1), limit).unref();
  process.once("SIGINT", () => void abort("bench: interrupted", 130));
  process.once("SIGTERM", () => void abort("bench: terminated", 143));

  const startedAt = performance.now();
  const reports: string[] = [];
  for (const scenario of options.scenarios) {
    const report = await scenarios[scenario](options).catch((error) => {
      if (!(error instanceof ServicesUnavailableError)) throw error;
      console.log(`${scenario}: skipped, ${error.message}`);
      return `skipped: ${error.message}`;
    });
    reports.push(`## ${scenario}\n\n${report}`);
  }
  console.log(`\n${reports.join("\n\n")}\n\nbench took ${((performance.now() - startedAt) / 1000).toFixed(1)} s`);
}

main().catch((error) => abort(`bench failed: ${(error as Error).stack ?? error}`, 1));
