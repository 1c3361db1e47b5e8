// SQLite tables; src/storage/postgres/schema.ts will mirror these names column for column.

import { sql } from "drizzle-orm";
import { index, integer, primaryKey, sqliteTable, text, uniqueIndex } from "drizzle-orm/sqlite-core";

export const threads = sqliteTable(
  "threads",
  {
    id: text("id").primaryKey(),
    ownerId: text("owner_id").notNull(),
    title: text("title").notNull().default(""),
    // The thread channel's last event (seq within epoch) that the stored messages reflect.
    eventSeq: integer("event_seq"),
    eventEpoch: text("event_epoch"),
    createdAt: integer("created_at", { mode: "timestamp_ms" }).notNull(),
    updatedAt: integer("updated_at", { mode: "timestamp_ms" }).notNull(),
  },
  (table) => [index("threads_owner_updated_idx").on(table.ownerId, table.updatedAt)],
);

export const messages = sqliteTable(
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
    toolCalls: text("tool_calls", { mode: "json" }),
    sources: text("sources", { mode: "json" }),
    usage: text("usage", { mode: "json" }),
    error: text("error", { mode: "json" }),
    // The node running this message's run, and until when its lease holds.
    nodeId: text("node_id"),
    leaseExpiresAt: integer("lease_expires_at", { mode: "timestamp_ms" }),
    createdAt: integer("created_at", { mode: "timestamp_ms" }).notNull(),
    updatedAt: integer("updated_at", { mode: "timestamp_ms" }).notNull(),
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
export const threadMembers = sqliteTable(
  "thread_members",
  {
    threadId: text("thread_id")
      .notNull()
      .references(() => threads.id, { onDelete: "cascade" }),
    userId: text("user_id").notNull(),
    role: text("role", { enum: ["editor", "viewer"] }).notNull(),
    addedAt: integer("added_at", { mode: "timestamp_ms" }).notNull(),
  },
  (table) => [primaryKey({ columns: [table.threadId, table.userId] }), index("thread_members_user_idx").on(table.userId)],
);
