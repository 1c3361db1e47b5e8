// The shared engine: PostgreSQL through Bun's SQL client and drizzle, migrated at open from migrations embedded in the build.

import { SQL } from "bun";
import { and, asc, desc, eq, gte, inArray, isNull, lt, or, sql } from "drizzle-orm";
import { drizzle, type BunSQLDatabase } from "drizzle-orm/bun-sql";
import { migrationMetas } from "../migrations.ts";
import { roleOf } from "../thread-role.ts";
import { ActiveRunConflictError, RunLimitError, type Member, type MemberRole, type ThreadRole, type ThreadWithRole, type Checkpoint, type Message, type MessagePatch, type NewMessage, type NewRun, type RunLimits, type SearchHit, type Storage, type Thread } from "../storage.ts";
import { embeddedMigrations } from "./migrations.gen.ts";
import * as schema from "./schema.ts";

const unfinished: Message["status"][] = ["streaming", "awaiting_approval"];

export interface PostgresStorageOptions {
  /** Connections in the pool. */
  maxConnections?: number;
  /** Seconds to wait for a connection before the query fails. */
  connectTimeoutS?: number;
}

export class PostgresStorage implements Storage {
  readonly dialect = "postgres" as const;
  private readonly db: BunSQLDatabase<typeof schema>;

  private constructor(private readonly client: SQL) {
    this.db = drizzle({ client, schema });
  }

  /** Connects and applies every embedded migration not yet recorded; several nodes may open at once. */
  static async open(url: string, options: PostgresStorageOptions = {}): Promise<PostgresStorage> {
    const client = new SQL({
      url,
      max: options.maxConnections ?? 10,
      // A database that is down or unreachable fails the query instead of holding the caller.
      connectionTimeout: options.connectTimeoutS ?? 5,
      idleTimeout: 30,
      maxLifetime: 30 * 60,
      connection: { application_name: "agentwire", idle_in_transaction_session_timeout: 60_000 },
    });
    const storage = new PostgresStorage(client);
    try {
      await storage.migrate();
    } catch (error) {
      await client.close({ timeout: 0 });
      throw error;
    }
    return storage;
  }

  /**
   * Applies every embedded migration not yet recorded in the database. drizzle's migrator creates its
   * own table and reads the last applied migration before it opens its transaction, so nodes starting
   * together would collide there or apply a migration twice: a session advisory lock, held on one
   * connection, lets them in one at a time.
   */
  async migrate(): Promise<void> {
    const connection = await this.client.reserve();
    try {
      await connection`SELECT pg_advisory_lock(hashtext('agentwire migrations'))`;
      const db = drizzle({ client: connection, schema });
      const dialect = (db as unknown as { dialect: { migrate(m: unknown, s: unknown, c: unknown): Promise<void> } }).dialect;
      const session = (db as unknown as { session: unknown }).session;
      await dialect.migrate(migrationMetas(embeddedMigrations), session, { migrationsFolder: "(embedded)" });
      await connection`SELECT pg_advisory_unlock(hashtext('agentwire migrations'))`;
      await connection.release();
    } catch (error) {
      // Ending the session drops the lock whatever state the failure left it in; back in the pool it could stay held.
      await connection.close().catch(() => {});
      throw error;
    }
  }

  async threadOwner(threadId: string): Promise<string | undefined> {
    const [row] = await this.db.select({ ownerId: schema.threads.ownerId }).from(schema.threads).where(eq(schema.threads.id, threadId));
    return row?.ownerId;
  }

  async createThread(input: { id?: string; ownerId: string; title?: string }): Promise<Thread> {
    const now = new Date();
    const thread: Thread = {
      id: input.id ?? crypto.randomUUID(),
      ownerId: input.ownerId,
      title: input.title ?? "",
      eventSeq: null,
      eventEpoch: null,
      createdAt: now,
      updatedAt: now,
    };
    await this.db.insert(schema.threads).values(thread);
    return thread;
  }

  async getThread(threadId: string): Promise<Thread | undefined> {
    const [thread] = await this.db.select().from(schema.threads).where(eq(schema.threads.id, threadId));
    return thread;
  }

  async listThreads(ownerId: string, limit = 200): Promise<Thread[]> {
    return this.db
      .select()
      .from(schema.threads)
      .where(eq(schema.threads.ownerId, ownerId))
      .orderBy(desc(schema.threads.updatedAt), desc(schema.threads.createdAt))
      .limit(limit);
  }

  async threadRole(threadId: string, userId: string): Promise<ThreadRole | undefined> {
    const [row] = await this.db
      .select({ ownerId: schema.threads.ownerId, role: schema.threadMembers.role })
      .from(schema.threads)
      .leftJoin(schema.threadMembers, and(eq(schema.threadMembers.threadId, schema.threads.id), eq(schema.threadMembers.userId, userId)))
      .where(eq(schema.threads.id, threadId));
    return roleOf(row, userId);
  }

  async listAccessibleThreads(userId: string, limit = 200): Promise<ThreadWithRole[]> {
    const rows = await this.db
      .select({ thread: schema.threads, role: schema.threadMembers.role })
      .from(schema.threads)
      .leftJoin(schema.threadMembers, and(eq(schema.threadMembers.threadId, schema.threads.id), eq(schema.threadMembers.userId, userId)))
      .where(or(eq(schema.threads.ownerId, userId), eq(schema.threadMembers.userId, userId)))
      .orderBy(desc(schema.threads.updatedAt), desc(schema.threads.createdAt))
      .limit(limit);
    return rows.map(({ thread, role }) => ({ ...thread, role: roleOf({ ownerId: thread.ownerId, role }, userId)! }));
  }

  async putMember(threadId: string, userId: string, role: MemberRole): Promise<Member> {
    const [member] = await this.db
      .insert(schema.threadMembers)
      .values({ threadId, userId, role, addedAt: new Date() })
      .onConflictDoUpdate({ target: [schema.threadMembers.threadId, schema.threadMembers.userId], set: { role } })
      .returning();
    return member!;
  }

  async deleteMember(threadId: string, userId: string): Promise<boolean> {
    const deleted = await this.db
      .delete(schema.threadMembers)
      .where(and(eq(schema.threadMembers.threadId, threadId), eq(schema.threadMembers.userId, userId)))
      .returning({ userId: schema.threadMembers.userId });
    return deleted.length > 0;
  }

  async listMembers(threadId: string): Promise<Member[]> {
    return this.db.select().from(schema.threadMembers).where(eq(schema.threadMembers.threadId, threadId)).orderBy(asc(schema.threadMembers.addedAt), asc(schema.threadMembers.userId));
  }

  async updateThread(threadId: string, patch: { title?: string; touch?: boolean }): Promise<void> {
    const values: Partial<Thread> = { updatedAt: new Date() };
    if (patch.title !== undefined) values.title = patch.title;
    await this.db.update(schema.threads).set(values).where(eq(schema.threads.id, threadId));
  }

  async deleteThread(threadId: string): Promise<boolean> {
    const deleted = await this.db.delete(schema.threads).where(eq(schema.threads.id, threadId)).returning({ id: schema.threads.id });
    return deleted.length > 0;
  }

  async insertMessage(message: NewMessage): Promise<Message> {
    // Without a given time the row takes the statement's start on the database clock: microseconds,
    // rising from one statement to the next, so messages written back to back list in the order
    // written (SQLite breaks such ties by rowid, which PostgreSQL has no equivalent of).
    const createdAt = message.createdAt ?? sql`statement_timestamp()`;
    try {
      const [row] = await this.db
        .insert(schema.messages)
        .values({ ...message, createdAt, updatedAt: createdAt })
        .returning();
      return row!;
    } catch (error) {
      if (violatedConstraint(error) === "messages_one_active_run_idx") throw new ActiveRunConflictError(message.threadId, { cause: error });
      throw error;
    }
  }

  async insertRun({ thread, userMessage, runMessage }: NewRun, { maxActiveRunsPerUser, now }: RunLimits): Promise<void> {
    const { ownerId, threadId } = runMessage;
    const lease = schema.messages.leaseExpiresAt;
    try {
      await this.db.transaction(async (tx) => {
        // Sends of one owner on any node queue here until the one before commits, so each counts the
        // runs the others stored; read committed gives the count below a snapshot taken after the lock.
        await tx.execute(sql`SELECT pg_advisory_xact_lock(hashtext('agentwire runs per user'), hashtext(${ownerId}))`);
        const [counts] = await tx
          .select({
            active: sql<number>`count(*) filter (where ${or(isNull(lease), gte(lease, now))})`.mapWith(Number),
            busy: sql<boolean>`coalesce(bool_or(${eq(schema.messages.threadId, threadId)}), false)`,
          })
          .from(schema.messages)
          .where(and(eq(schema.messages.ownerId, ownerId), eq(schema.messages.role, "assistant"), inArray(schema.messages.status, unfinished)));
        if (counts!.busy) throw new ActiveRunConflictError(threadId);
        if (counts!.active >= maxActiveRunsPerUser) throw new RunLimitError(ownerId, maxActiveRunsPerUser);
        if (thread) {
          const createdAt = new Date();
          await tx.insert(schema.threads).values({ ...thread, createdAt, updatedAt: createdAt });
        }
        // Each statement its own start time, as insertMessage: the user's message lists first.
        for (const message of userMessage ? [userMessage, runMessage] : [runMessage]) {
          const createdAt = message.createdAt ?? sql`statement_timestamp()`;
          await tx.insert(schema.messages).values({ ...message, createdAt, updatedAt: createdAt });
        }
      });
    } catch (error) {
      if (violatedConstraint(error) === "messages_one_active_run_idx") throw new ActiveRunConflictError(threadId, { cause: error });
      throw error;
    }
  }

  async updateMessage(messageId: string, patch: MessagePatch): Promise<void> {
    await this.db
      .update(schema.messages)
      .set({ ...patch, updatedAt: new Date() })
      .where(eq(schema.messages.id, messageId));
  }

  async getMessage(messageId: string): Promise<Message | undefined> {
    const [message] = await this.db.select().from(schema.messages).where(eq(schema.messages.id, messageId));
    return message;
  }

  async deleteMessage(messageId: string): Promise<boolean> {
    const deleted = await this.db.delete(schema.messages).where(eq(schema.messages.id, messageId)).returning({ id: schema.messages.id });
    return deleted.length > 0;
  }

  async listMessages(threadId: string): Promise<Message[]> {
    return this.db
      .select()
      .from(schema.messages)
      .where(eq(schema.messages.threadId, threadId))
      .orderBy(asc(schema.messages.createdAt), asc(schema.messages.id));
  }

  async checkpoint({ messageId, patch, threadId, eventSeq, eventEpoch }: Checkpoint): Promise<void> {
    const now = new Date();
    await this.db.transaction(async (tx) => {
      await tx.update(schema.messages).set({ ...patch, updatedAt: now }).where(eq(schema.messages.id, messageId));
      await tx.update(schema.threads).set({ eventSeq, eventEpoch, updatedAt: now }).where(eq(schema.threads.id, threadId));
    });
  }

  async searchMessages(ownerId: string, query: string, limit: number): Promise<SearchHit[]> {
    const words = searchWords(query);
    if (!words) return [];
    // message_search_document is the expression the GIN index is built on (drizzle/postgres/0001),
    // so the match below uses the index; headlines are cut only for the rows that are returned.
    const rows = await this.db.execute<{ id: string; thread_id: string; title: string; role: "user" | "assistant"; created_at: Date | string; snippet: string }>(sql`
      WITH hits AS (
        SELECT m.id, m.thread_id, m.role, m.content, m.created_at, q.query,
               ts_rank(message_search_document(m.content), q.query) AS rank
          FROM messages m, plainto_tsquery('message_search', ${words}) AS q(query)
         WHERE message_search_document(m.content) @@ q.query AND m.owner_id = ${ownerId}
         ORDER BY rank DESC, m.created_at DESC
         LIMIT ${limit}
      )
      SELECT h.id, h.thread_id, t.title, h.role, h.created_at,
             -- An ellipsis marks each side where words were cut off, as with SQLite's snippet();
             -- ts_headline ends on a word, so trailing punctuation alone does not count as cut.
             concat(CASE WHEN left(h.content, headline.start - 1) ~ '[[:alnum:]]' THEN '…' END,
                    headline.text,
                    CASE WHEN substr(h.content, headline.start + length(headline.text)) ~ '[[:alnum:]]' THEN '…' END) AS snippet
        FROM hits h
        JOIN threads t ON t.id = h.thread_id,
             LATERAL ts_headline('message_search', h.content, h.query,
                                 'StartSel="", StopSel="", MaxFragments=1, MaxWords=16, MinWords=4, ShortWord=0') AS cut(text),
             LATERAL (SELECT cut.text, greatest(strpos(h.content, cut.text), 1) AS start) AS headline
       ORDER BY h.rank DESC, h.created_at DESC`);
    return rows.map((row) => ({
      messageId: row.id,
      threadId: row.thread_id,
      threadTitle: row.title,
      role: row.role,
      snippet: row.snippet,
      createdAt: new Date(row.created_at),
    }));
  }

  async threadSnapshot(threadId: string): Promise<{ thread: Thread; messages: Message[] } | undefined> {
    // Under read committed each statement sees its own moment; one snapshot keeps the thread's
    // reflected event and the messages in agreement while a checkpoint commits between the two reads.
    return this.db.transaction(
      async (tx) => {
        const [thread] = await tx.select().from(schema.threads).where(eq(schema.threads.id, threadId));
        if (!thread) return undefined;
        const messages = await tx
          .select()
          .from(schema.messages)
          .where(eq(schema.messages.threadId, threadId))
          .orderBy(asc(schema.messages.createdAt), asc(schema.messages.id));
        return { thread, messages };
      },
      { isolationLevel: "repeatable read", accessMode: "read only" },
    );
  }

  async interruptUnfinished(): Promise<number> {
    const interrupted = await this.db
      .update(schema.messages)
      .set({ status: "interrupted", updatedAt: new Date() })
      .where(inArray(schema.messages.status, unfinished))
      .returning({ id: schema.messages.id });
    return interrupted.length;
  }

  async renewLeases(nodeId: string, expiresAt: Date): Promise<void> {
    await this.db
      .update(schema.messages)
      .set({ leaseExpiresAt: expiresAt })
      .where(and(eq(schema.messages.nodeId, nodeId), inArray(schema.messages.status, unfinished)));
  }

  async reapExpiredRuns(now: Date): Promise<Message[]> {
    // Rows another reaper has locked are left to it (SKIP LOCKED) rather than waited on, so nodes
    // reaping at once neither block nor deadlock each other, and each row is returned once; the status
    // is checked again on the locked row in case its run finished meanwhile.
    const expired = this.db
      .select({ id: schema.messages.id })
      .from(schema.messages)
      .where(and(inArray(schema.messages.status, unfinished), lt(schema.messages.leaseExpiresAt, now)))
      .for("update", { skipLocked: true });
    return this.db
      .update(schema.messages)
      .set({ status: "interrupted", updatedAt: now })
      .where(and(inArray(schema.messages.id, expired), inArray(schema.messages.status, unfinished)))
      .returning();
  }

  async ping(): Promise<void> {
    await this.client`SELECT 1`;
  }

  async close(): Promise<void> {
    await this.client.close({ timeout: 5 });
  }
}

/** The constraint a unique violation (SQLSTATE 23505) names, looked for through drizzle's error wrapping. */
function violatedConstraint(error: unknown): string | undefined {
  for (let current = error; current instanceof Error; current = current.cause) {
    if (current instanceof SQL.PostgresError && current.errno === "23505") return current.constraint;
  }
  return undefined;
}

/**
 * The words of a free-text query, picked out as SQLite's search picks them, all required: operators
 * and punctuation never reach the parser, and a query without words matches nothing.
 */
function searchWords(query: string): string | undefined {
  const words = query.match(/[\p{L}\p{N}]+/gu);
  if (!words) return undefined;
  return words.slice(0, 16).join(" ");
}
