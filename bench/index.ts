// Entry point of `bun run bench`: runs the chosen scenarios in order, then prints their reports together.

import { runFanout } from "./fanout.ts";
import { fanoutReport } from "./fanout-report.ts";
import { memoryReport, runMemory } from "./memory.ts";
import { UsageError, parseOptions, usage, type BenchOptions, type Scenario } from "./options.ts";
import { killAllServers, setAgentwireRoot } from "./servers.ts";

/** Each scenario runs and returns its report; a new scenario is one more entry here. */
const scenarios: Record<Scenario, (options: BenchOptions) => Promise<string>> = {
  fanout: async (options) => fanoutReport(await runFanout(options.fanout)),
  memory: async (options) => memoryReport(await runMemory(options.memory)),
};

function abort(message: string, code: number): never {
  console.error(message);
  killAllServers();
  process.exit(code);
}

async function main(): Promise<void> {
  let options: BenchOptions | undefined;
  try {
    options = parseOptions(process.argv.slice(2), process.env);
  } catch (error) {
    if (!(error instanceof UsageError || (error as { code?: string }).code?.startsWith("ERR_PARSE_ARGS"))) throw error;
    abort(`${(error as Error).message}\n\n${usage}`, 2);
  }
  if (!options) {
    console.log(usage);
    return;
  }
  setAgentwireRoot(options.agentwireRoot);
  const limit = options.timeoutMs;
  setTimeout(() => abort(`bench: gave up after ${limit / 1000} s`, 1), limit).unref();
  process.once("SIGINT", () => abort("bench: interrupted", 130));
  process.once("SIGTERM", () => abort("bench: terminated", 143));

  const startedAt = performance.now();
  const reports: string[] = [];
  for (const scenario of options.scenarios) reports.push(`## ${scenario}\n\n${await scenarios[scenario](options)}`);
  console.log(`\n${reports.join("\n\n")}\n\nbench took ${((performance.now() - startedAt) / 1000).toFixed(1)} s`);
}

main().catch((error) => abort(`bench failed: ${(error as Error).stack ?? error}`, 1));
