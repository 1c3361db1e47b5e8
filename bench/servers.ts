// Starts the servers under test as child processes, reads their RSS and makes sure none outlives the bench.

import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Subprocess } from "bun";

export type ServerKind = "agentwire" | "baseline";
export const SERVER_KINDS: readonly ServerKind[] = ["agentwire", "baseline"];

export const ROOT = new URL("..", import.meta.url).pathname;
export const JWT_SECRET = "bench-secret-not-for-production";

export interface RunningServer {
  readonly kind: ServerKind;
  readonly pid: number;
  readonly port: number;
  readonly url: string;
  /** Resident set size in bytes, from /proc/<pid>/status. */
  rss(): number;
  /** User plus system CPU time used so far, all threads, in seconds (10 ms resolution). */
  cpuSeconds(): number;
  stop(): Promise<void>;
}

const START_TIMEOUT_MS = 15_000;
const STOP_TIMEOUT_MS = 5_000;

const children = new Set<Subprocess>();
const dataDirectories = new Set<string>();

// Another checkout can be measured with the bench of this one, e.g. to compare two versions.
let agentwireRoot = ROOT;

export function setAgentwireRoot(directory: string): void {
  agentwireRoot = directory;
}

/** Kill every child still running and remove its data; synchronous so it also works from an exit handler. */
export function killAllServers(): void {
  for (const child of children) child.kill("SIGKILL");
  children.clear();
  for (const directory of dataDirectories) rmSync(directory, { recursive: true, force: true });
  dataDirectories.clear();
}
process.on("exit", killAllServers);

function command(kind: ServerKind, settings: Record<string, string>): { cmd: string[]; env: Record<string, string>; dataDir?: string } {
  if (kind === "baseline") return { cmd: [process.execPath, "run", join(ROOT, "bench/baseline-server.ts")], env: settings };
  const dataDir = mkdtempSync(join(tmpdir(), "agentwire-bench-"));
  dataDirectories.add(dataDir);
  return {
    cmd: [process.execPath, "run", join(agentwireRoot, "src/index.ts"), "serve"],
    dataDir,
    env: {
      DATA_DIR: dataDir,
      JWT_SECRET,
      // The "listening" line that carries the port is logged at info.
      LOG_LEVEL: "info",
      // One publisher sends far above the per-connection default of 1,000 frames/s; everything else stays default.
      RATE_LIMIT_PER_S: "1000000000",
      RATE_LIMIT_BURST: "1000000000",
      // Every bench client of a scenario is one user ("bench", "watcher"), with thousands of connections,
      // far over the default of 100 per user; and --body-bytes up to 512 KiB takes a publisher far over
      // the default 4 MiB/s of publish bytes (at the default 100 B bodies it stays well under).
      MAX_CONNECTIONS_PER_USER: "1000000",
      PUBLISH_BYTES_PER_S: "1000000000000",
      PUBLISH_BURST_BYTES: "1000000000000",
      ...settings,
    },
  };
}

/** The port a server announces on stdout: agentwire's "agentwire listening" log line or the baseline's "listening". */
function portOf(line: string): number | undefined {
  let record: { msg?: unknown; url?: unknown; port?: unknown };
  try {
    record = JSON.parse(line);
  } catch {
    return undefined;
  }
  if (record.msg === "agentwire listening") return Number(new URL(String(record.url)).port);
  if (record.msg === "listening") return Number(record.port);
  return undefined;
}

export function readRss(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const match = /^VmRSS:\s+(\d+)\s+kB$/m.exec(status);
  if (!match) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(match[1]) * 1024;
}

// /proc reports CPU time in USER_HZ ticks, which Linux fixes at 100 whatever the kernel's own tick rate.
const CLOCK_TICKS_PER_SECOND = 100;

export function readCpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  // Fields are counted after the command name, which may itself hold spaces and parentheses.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const userTicks = Number(fields[11]);
  const systemTicks = Number(fields[12]);
  return (userTicks + systemTicks) / CLOCK_TICKS_PER_SECOND;
}

/** Starts a server; `settings` are extra environment variables (the baseline knows only BASELINE_SETTINGS). */
export async function startServer(kind: ServerKind, settings: Record<string, string> = {}): Promise<RunningServer> {
  const { cmd, env, dataDir } = command(kind, settings);
  const child = Bun.spawn(cmd, {
    cwd: kind === "agentwire" ? agentwireRoot : ROOT,
    // A minimal environment, so settings of the shell running the bench (DATABASE_URL...) do not leak in.
    env: {
      PATH: process.env.PATH ?? "",
      HOME: process.env.HOME ?? tmpdir(),
      PORT: "0",
      HOST: "127.0.0.1",
      // Flags for the servers' Bun, e.g. "--cpu-prof-md --cpu-prof-dir /tmp/profiles" to profile them.
      ...(process.env.BENCH_SERVER_BUN_OPTIONS ? { BUN_OPTIONS: process.env.BENCH_SERVER_BUN_OPTIONS } : {}),
      ...env,
    },
    stdin: "ignore",
    stdout: "pipe",
    stderr: "pipe",
  });
  children.add(child);
  const stderr = new Response(child.stderr).text();
  const removeDataDir = () => {
    if (!dataDir) return;
    rmSync(dataDir, { recursive: true, force: true });
    dataDirectories.delete(dataDir);
  };

  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${kind} did not announce its port within ${START_TIMEOUT_MS} ms`)), START_TIMEOUT_MS);
    child.exited.then(async (code) => reject(new Error(`${kind} exited with ${code} before listening: ${await stderr}`)));
    // Keep draining stdout for the server's whole life so a chatty log can never block it on a full pipe.
    (async () => {
      const decoder = new TextDecoder();
      let rest = "";
      for await (const chunk of child.stdout) {
        rest += decoder.decode(chunk, { stream: true });
        let newline: number;
        while ((newline = rest.indexOf("\n")) >= 0) {
          const found = portOf(rest.slice(0, newline));
          rest = rest.slice(newline + 1);
          if (found !== undefined) {
            clearTimeout(timer);
            resolve(found);
          }
        }
      }
    })().catch(reject);
  }).catch((error) => {
    child.kill("SIGKILL");
    children.delete(child);
    removeDataDir();
    throw error;
  });

  return {
    kind,
    pid: child.pid,
    port,
    url: `ws://127.0.0.1:${port}/ws`,
    rss: () => readRss(child.pid),
    cpuSeconds: () => readCpuSeconds(child.pid),
    async stop() {
      child.kill("SIGTERM");
      const stopped = await Promise.race([child.exited.then(() => true), Bun.sleep(STOP_TIMEOUT_MS).then(() => false)]);
      if (!stopped) child.kill("SIGKILL");
      await child.exited;
      children.delete(child);
      removeDataDir();
    },
  };
}
