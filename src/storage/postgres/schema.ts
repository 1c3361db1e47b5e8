// PostgreSQL tables, mirroring src/storage/sqlite/schema.ts table for table and column for column.

import { sql } from "drizzle-orm";
import { customType, index, integer, pgTable, primaryKey, text, timestamp, uniqueIndex } from "drizzle-orm/pg-core";

// Bun's SQL client JSON-encodes whatever it binds to a jsonb parameter, strings included, so drizzle's
// own jsonb (which binds JSON text) would store every document as one JSON string. Binding the text as
// `text` and casting it keeps objects objects, and numbers and booleans bind too.
const jsonb = customType<{ data: unknown; driverData: unknown }>({
  dataType: () => "jsonb",
  toDriver: (value) => sql`${JSON.stringify(value)}::text::jsonb`,
});

export const threads = pgTable(
  "threads",
  {
    id: text("id").primaryKey(),
    ownerId: text("owner_id").notNull(),
    title: text("title").notNull().default(""),
    // The thread channel's last event (seq within epoch) that the stored messages reflect.
    eventSeq: integer("event_seq"),
    eventEpoch: text("event_epoch"),
    createdAt: timestamp("created_at", { withTimezone: true, mode: "date" }).notNull(),
    updatedAt: timestamp("updated_at", { withTimezone: true, mode: "date" }).notNull(),
  },
  (table) => [index("threads_owner_updated_idx").on(table.ownerId, table.updatedAt)],
);

export const messages = pgTable(
  "messages",
  {
    id: text("id").primaryKey(),
    threadId: text("thread_id")
      .notNull()
      .references(() => threads.id, { onDelete: "cascade" }),
    ownerId: text("owner_id").notNull(),
    role: text("role", { enum: ["user", "assistant"] }).notNull(),
    content: text("content").notNull().default(""),
    status: text("status", {
      enum: ["completed", "streaming", "awaiting_approval", "cancelled", "error", "interrupted"],
    }).notNull(),
    reasoning: text("reasoning"),
    toolCalls: jsonb("tool_calls"),
    sources: jsonb("sources"),
    usage: jsonb("usage"),
    error: jsonb("error"),
    // The node running this message's run, and until when its lease holds.
    nodeId: text("node_id"),
    leaseExpiresAt: timestamp("lease_expires_at", { withTimezone: true, mode: "date" }),
    createdAt: timestamp("created_at", { withTimezone: true, mode: "date" }).notNull(),
    updatedAt: timestamp("updated_at", { withTimezone: true, mode: "date" }).notNull(),
  },
  (table) => [
    index("messages_thread_created_idx").on(table.threadId, table.createdAt),
    index("messages_owner_idx").on(table.ownerId),
    index("messages_status_idx").on(table.status),
    // One active run per thread, enforced by the database for every node.
    uniqueIndex("messages_one_active_run_idx")
      .on(table.threadId)
      .where(sql`status in ('streaming', 'awaiting_approval')`),
  ],
);

// The members a thread's owner shared it with (docs/protocol.md section 14); gone with the thread.
export const threadMembers = pgTable(
  "thread_members",
  {
    threadId: text("thread_id")
      .notNull()
      .references(() => threads.id, { onDelete: "cascade" }),
    userId: text("user_id").notNull(),
    role: text("role", { enum: ["editor", "viewer"] }).notNull(),
    addedAt: timestamp("added_at", { withTimezone: true, mode: "date" }).notNull(),
  },
  (table) => [primaryKey({ columns: [table.threadId, table.userId] }), index("thread_members_user_idx").on(table.userId)],
);
