// A PostgreSQL server of the test's own, in a temporary directory on a fixed port, so a test can kill it
// outright (SIGKILL, as a crashed host would) and start it again where clients expect it.

import type { Subprocess } from "bun";
import { chownSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { freePort } from "./services.ts";
import { waitFor } from "./wait.ts";

const INSTALL_ROOT = "/usr/lib/postgresql";

/** The bin directory of the newest PostgreSQL installed under /usr/lib/postgresql, if any. */
export function findPostgresBinaries(): string | undefined {
  if (!existsSync(INSTALL_ROOT)) return undefined;
  const versions = readdirSync(INSTALL_ROOT)
    .filter((version) => existsSync(join(INSTALL_ROOT, version, "bin", "initdb")) && existsSync(join(INSTALL_ROOT, version, "bin", "pg_ctl")))
    .sort((a, b) => Number(b) - Number(a));
  return versions[0] === undefined ? undefined : join(INSTALL_ROOT, versions[0], "bin");
}

/** Says once why a suite skips when no PostgreSQL server binaries are installed. */
export function explainOwnPostgresSkip(suite: string): boolean {
  if (findPostgresBinaries()) return false;
  console.warn(`skipping ${suite}: no PostgreSQL server binaries under ${INSTALL_ROOT}/<version>/bin (apt-get install postgresql)`);
  return true;
}

/** The numeric id of an OS user, read from /etc/passwd. */
function userId(name: string): { uid: number; gid: number } | undefined {
  const line = readFileSync("/etc/passwd", "utf8").split("\n").find((entry) => entry.startsWith(`${name}:`));
  if (!line) return undefined;
  const [, , uid, gid] = line.split(":");
  return { uid: Number(uid), gid: Number(gid) };
}

export class OwnPostgres {
  readonly port = freePort();
  readonly url = `postgres://postgres@127.0.0.1:${this.port}/postgres`;
  private readonly dir = mkdtempSync(join(tmpdir(), "agentwire-pg-"));
  private readonly data = join(this.dir, "data");
  private readonly bin: string;
  // PostgreSQL refuses to run as root: as root, its programs run as the `postgres` OS user.
  private readonly asPostgres = process.getuid?.() === 0;
  private server: Subprocess | undefined;

  constructor() {
    const bin = findPostgresBinaries();
    if (!bin) throw new Error(`no PostgreSQL server binaries under ${INSTALL_ROOT}`);
    this.bin = bin;
    const owner = this.asPostgres ? userId("postgres") : undefined;
    if (owner) chownSync(this.dir, owner.uid, owner.gid);
  }

  /** Creates the cluster (trust authentication, user `postgres`) and starts it. */
  async init(): Promise<void> {
    const initdb = Bun.spawn(this.command("initdb", ["-D", this.data, "-A", "trust", "-U", "postgres", "--no-sync"]), { stdout: "pipe", stderr: "pipe" });
    const [output, code] = await Promise.all([new Response(initdb.stderr).text(), initdb.exited]);
    if (code !== 0) throw new Error(`initdb exited with ${code}: ${output}`);
    await this.start();
  }

  /**
   * Starts the server and waits until it accepts connections. The postmaster runs in the foreground as
   * this process's child (not daemonized by pg_ctl), so once killed it is reaped here at once and a
   * restart does not find it still "running" as an unreaped zombie.
   */
  async start(): Promise<void> {
    const args = ["-D", this.data, "-p", String(this.port), "-k", this.dir, "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "max_connections=40"];
    const logFile = Bun.file(join(this.dir, "server.log"));
    const server = Bun.spawn(this.command("postgres", args), { stdout: logFile, stderr: logFile });
    this.server = server;
    let exited = false;
    server.exited.then(() => (exited = true));
    await waitFor(
      async () => {
        if (exited) throw new Error(`postgres exited with ${server.exitCode}: ${await logFile.text()}`);
        const ready = Bun.spawn([join(this.bin, "pg_isready"), "-q", "-h", "127.0.0.1", "-p", String(this.port), "-U", "postgres"]);
        return (await ready.exited) === 0;
      },
      "PostgreSQL to accept connections",
      { timeoutMs: 30_000, intervalMs: 50 },
    );
  }

  /** SIGKILLs the postmaster and every process it started: connections drop as on a crashed host. */
  async kill(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = undefined;
    const children = childrenOf(server.pid);
    server.kill("SIGKILL");
    for (const pid of children) signal(pid, "SIGKILL");
    await server.exited;
  }

  /** Kills the server if it runs and removes its directory. */
  async remove(): Promise<void> {
    await this.kill();
    rmSync(this.dir, { recursive: true, force: true });
  }

  private command(program: string, args: string[]): string[] {
    const executable = join(this.bin, program);
    return this.asPostgres ? ["setpriv", "--reuid=postgres", "--regid=postgres", "--init-groups", "--", executable, ...args] : [executable, ...args];
  }
}

function signal(pid: number, name: NodeJS.Signals): void {
  try {
    process.kill(pid, name);
  } catch {
    // Already gone.
  }
}

/** The pids whose parent is `pid`, read from /proc. */
function childrenOf(pid: number): number[] {
  const children: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, "utf8");
      // The fields after the command (which may hold spaces and parentheses): state, then parent pid.
      const parent = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      if (parent === pid) children.push(Number(entry));
    } catch {
      // The process ended while we looked.
    }
  }
  return children;
}
