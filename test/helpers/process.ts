// Runs agentwire (from source or the compiled binary) and the examples' servers as child processes, and reads their output.

import type { Subprocess } from "bun";
import { join } from "node:path";

export const ROOT = new URL("../..", import.meta.url).pathname;

export interface RunningServer {
  process: Subprocess<"ignore", "pipe", "pipe">;
  port: number;
  lines: Record<string, unknown>[];
  exited: Promise<number>;
}

/** Starts `cmd` with PORT=0 and resolves once the log says where it listens. */
export async function spawnServer(cmd: string[], options: { cwd: string; env: Record<string, string> }): Promise<RunningServer> {
  const child = Bun.spawn(cmd, {
    cwd: options.cwd,
    env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "/tmp", PORT: "0", HOST: "127.0.0.1", ...options.env },
    stdout: "pipe",
    stderr: "pipe",
  });
  const lines: Record<string, unknown>[] = [];
  let resolvePort: (port: number) => void = () => {};
  let rejectPort: (error: Error) => void = () => {};
  const portKnown = new Promise<number>((resolve, reject) => {
    resolvePort = resolve;
    rejectPort = reject;
  });
  (async () => {
    const decoder = new TextDecoder();
    let rest = "";
    for await (const chunk of child.stdout) {
      rest += decoder.decode(chunk, { stream: true });
      let newline: number;
      while ((newline = rest.indexOf("\n")) >= 0) {
        const line = rest.slice(0, newline);
        rest = rest.slice(newline + 1);
        try {
          const record = JSON.parse(line) as Record<string, unknown>;
          lines.push(record);
          if (record.msg === "agentwire listening") resolvePort(Number(new URL(String(record.url)).port));
        } catch {
          lines.push({ raw: line });
        }
      }
    }
  })();
  const stderr = new Response(child.stderr).text();
  child.exited.then(async (code) => rejectPort(new Error(`server exited with ${code} before listening: ${await stderr}`)));
  const port = await Promise.race([portKnown, Bun.sleep(15_000).then(() => Promise.reject(new Error("server did not start in 15 s")))]);
  return { process: child, port, lines, exited: child.exited };
}

export async function run(cmd: string[], env: Record<string, string>, cwd = ROOT) {
  const child = Bun.spawn(cmd, { cwd, env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "/tmp", ...env }, stdout: "pipe", stderr: "pipe" });
  const [stdout, stderr, code] = await Promise.all([new Response(child.stdout).text(), new Response(child.stderr).text(), child.exited]);
  return { stdout, stderr, code };
}

/**
 * Starts an example's server (`script`, relative to the repository) on a free port in front of the
 * agentwire at `agentwire`; resolves once it says where it listens.
 */
export async function startExample(script: string, agentwire: string) {
  const child = Bun.spawn(["bun", "run", join(ROOT, script)], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "/tmp", PORT: "0", AGENTWIRE_HTTP: agentwire },
    stdout: "pipe",
    stderr: "inherit",
  });
  const decoder = new TextDecoder();
  let text = "";
  for await (const chunk of child.stdout) {
    text += decoder.decode(chunk, { stream: true });
    const match = /on http:\/\/[^:]+:(\d+)\//.exec(text);
    if (match) return { child, port: Number(match[1]) };
  }
  throw new Error(`${script} exited before listening: ${text}`);
}
