// Command-line parsing: `agentwire [serve|token|migrate|help] [--flag value]...`.

export interface Command {
  name: "serve" | "token" | "migrate" | "help";
  /** Flags mapped to the environment variable they override: --data-dir -> DATA_DIR. */
  flags: Record<string, string>;
  /** Repeatable flags, in order: --subscribe a --subscribe b. */
  lists: Record<string, string[]>;
}

const commands = new Set(["serve", "token", "migrate", "help"]);
const repeatable = new Set(["subscribe", "publish"]);

export class UsageError extends Error {
  override readonly name = "UsageError";
}

export function parseArgs(argv: string[]): Command {
  const args = [...argv];
  let name: Command["name"] = "serve";
  if (args[0] !== undefined && !args[0].startsWith("-")) {
    const first = args.shift()!;
    if (!commands.has(first)) throw new UsageError(`unknown command "${first}"`);
    name = first as Command["name"];
  }
  const flags: Record<string, string> = {};
  const lists: Record<string, string[]> = {};
  while (args.length > 0) {
    const arg = args.shift()!;
    if (arg === "--help" || arg === "-h") return { name: "help", flags, lists };
    if (!arg.startsWith("--")) throw new UsageError(`unexpected argument "${arg}"`);
    let key = arg.slice(2);
    let value: string | undefined;
    const equals = key.indexOf("=");
    if (equals >= 0) {
      value = key.slice(equals + 1);
      key = key.slice(0, equals);
    } else {
      value = args.shift();
    }
    if (value === undefined) throw new UsageError(`flag --${key} needs a value`);
    if (repeatable.has(key)) (lists[key] ??= []).push(value);
    else flags[key.toUpperCase().replace(/-/g, "_")] = value;
  }
  return { name, flags, lists };
}

export const usage = `agentwire: a real-time gateway between AI agents and the people watching them

Usage:
  agentwire [serve] [--port 8080] [--host 0.0.0.0] [--data-dir ./data] [--<setting> value]...
  agentwire token --sub alice [--subscribe GLOB]... [--publish GLOB]... [--ttl 1h]
  agentwire migrate
  agentwire help

Every setting is an environment variable (PORT, DATA_DIR, JWT_SECRET, ...); a flag of the same
name in kebab case overrides it (--max-subscriptions 50 sets MAX_SUBSCRIPTIONS).`;
