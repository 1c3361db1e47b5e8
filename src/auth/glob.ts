// Channel globs from token claims: `*` matches any run of characters (empty and `:` included).

export type Glob = RegExp;

// Tokens repeat the same few globs across many connections; one compiled RegExp serves them all.
const compiled = new Map<string, Glob>();
const MAX_COMPILED = 10_000;

export function compileGlob(pattern: string): Glob {
  let glob = compiled.get(pattern);
  if (!glob) {
    if (compiled.size >= MAX_COMPILED) compiled.delete(compiled.keys().next().value!);
    glob = buildGlob(pattern);
    compiled.set(pattern, glob);
  }
  return glob;
}

function buildGlob(pattern: string): Glob {
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
