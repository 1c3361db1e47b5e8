// Turns migrations embedded at build time into the form drizzle's dialect migrator applies.

import { createHash } from "node:crypto";
import type { MigrationMeta } from "drizzle-orm/migrator";

export interface EmbeddedMigrations {
  journal: { entries: { tag: string; when: number; breakpoints: boolean }[] };
  files: Record<string, string>;
}

/** The same records drizzle's readMigrationFiles builds from a folder, hashes included. */
export function migrationMetas(embedded: EmbeddedMigrations): MigrationMeta[] {
  return embedded.journal.entries.map((entry) => {
    const text = embedded.files[entry.tag];
    if (text === undefined) throw new Error(`migration ${entry.tag} is in the journal but was not embedded`);
    return {
      sql: text.split("--> statement-breakpoint"),
      bps: entry.breakpoints,
      folderMillis: entry.when,
      hash: createHash("sha256").update(text).digest("hex"),
    };
  });
}
