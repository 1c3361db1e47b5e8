// Channel globs from token claims: `*` matches any run of characters (empty and `:` included).

export type Glob = RegExp;

export function compileGlob(pattern: string): Glob {
  const source = pattern
    .split("*")
    .map((part) => part.replace(/[.*+?^${}()|[\]\\/-]/g, "\\$&"))
    .join(".*");
  return new RegExp(`^${source}$`, "s");
}

export function matchesAny(globs: readonly Glob[], channel: string): boolean {
  for (const glob of globs) if (glob.test(channel)) return true;
  return false;
}
