// The embedded engine: bun:sqlite through drizzle, migrated at open from migrations embedded in the build.

import { Database, type Statement } from "bun:sqlite";
import { mkdirSync } from "node:fs";
import { dirname } from "node:path";
import { and, asc, desc, eq, getTableColumns, getTableName, gte, inArray, isNull, lt, or, sql, type Column } from "drizzle-orm";
import { drizzle, type BunSQLiteDatabase } from "drizzle-orm/bun-sqlite";
import { migrationMetas } from "../migrations.ts";
import { roleOf } from "../thread-role.ts";
import { ActiveRunConflictError, RunLimitError, type Member, type MemberRole, type ThreadRole, type ThreadWithRole, type Checkpoint, type Message, type MessagePatch, type NewMessage, type NewRun, type RunLimits, type SearchHit, type Storage, type Thread } from "../storage.ts";
import { embeddedMigrations } from "./migrations.gen.ts";
import * as schema from "./schema.ts";

export class SqliteStorage implements Storage {
  readonly dialect = "sqlite" as const;
  private readonly db: BunSQLiteDatabase<typeof schema>;
  // Writes waiting for the group commit at the end of this turn of the event loop (see `groupCommit`).
  private readonly writes: { write: () => void; resolve: () => void; reject: (error: unknown) => void }[] = [];
  // The writes of every run (its start's INSERTs, its checkpoints' UPDATE), prepared once per table and
  // set of columns: drizzle built the same SQL again for every call, a tenth of the server's time with a
  // thousand runs streaming and most of a run start's.
  private readonly rowWrites = new Map<string, { statement: Statement; columns: Column[] }>();
  private threadEventUpdate: Statement | undefined;
  private preparedReads: ReturnType<typeof prepareReads> | undefined;

  private constructor(private readonly sqlite: Database) {
    this.db = drizzle({ client: withStatementCache(sqlite), schema });
  }

  /** Open (creating if needed) and migrate the database file; `:memory:` works too. */
  static open(path: string): SqliteStorage {
    if (path !== ":memory:") mkdirSync(dirname(path), { recursive: true });
    const sqlite = new Database(path, { create: true, strict: true });
    sqlite.run("PRAGMA journal_mode = WAL");
    sqlite.run("PRAGMA synchronous = NORMAL");
    sqlite.run("PRAGMA foreign_keys = ON");
    sqlite.run("PRAGMA busy_timeout = 5000");
    const storage = new SqliteStorage(sqlite);
    storage.migrate();
    return storage;
  }

  /** Applies every embedded migration not yet recorded in the database. */
  migrate(): void {
    const dialect = (this.db as unknown as { dialect: { migrate(m: unknown, s: unknown, c: unknown): void } }).dialect;
    const session = (this.db as unknown as { session: unknown }).session;
    dialect.migrate(migrationMetas(embeddedMigrations), session, { migrationsFolder: "(embedded)" });
  }

  /** The reads of every run start, built once (after the migrations have made their tables). */
  private get reads(): ReturnType<typeof prepareReads> {
    return (this.preparedReads ??= prepareReads(this.db));
  }

  async threadOwner(threadId: string): Promise<string | undefined> {
    const row = this.db.select({ ownerId: schema.threads.ownerId }).from(schema.threads).where(eq(schema.threads.id, threadId)).get();
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
    this.db.insert(schema.threads).values(thread).run();
    return thread;
  }

  async getThread(threadId: string): Promise<Thread | undefined> {
    return this.reads.thread.get({ threadId });
  }

  async listThreads(ownerId: string, limit = 200): Promise<Thread[]> {
    return this.db
      .select()
      .from(schema.threads)
      .where(eq(schema.threads.ownerId, ownerId))
      .orderBy(desc(schema.threads.updatedAt), desc(schema.threads.createdAt))
      .limit(limit)
      .all();
  }

  async threadRole(threadId: string, userId: string): Promise<ThreadRole | undefined> {
    return roleOf(this.reads.role.get({ threadId, userId }), userId);
  }

  async listAccessibleThreads(userId: string, limit = 200): Promise<ThreadWithRole[]> {
    const rows = this.db
      .select({ thread: schema.threads, role: schema.threadMembers.role })
      .from(schema.threads)
      .leftJoin(schema.threadMembers, and(eq(schema.threadMembers.threadId, schema.threads.id), eq(schema.threadMembers.userId, userId)))
      .where(or(eq(schema.threads.ownerId, userId), eq(schema.threadMembers.userId, userId)))
      .orderBy(desc(schema.threads.updatedAt), desc(schema.threads.createdAt))
      .limit(limit)
      .all();
    return rows.map(({ thread, role }) => ({ ...thread, role: roleOf({ ownerId: thread.ownerId, role }, userId)! }));
  }

  async putMember(threadId: string, userId: string, role: MemberRole): Promise<Member> {
    return this.db
      .insert(schema.threadMembers)
      .values({ threadId, userId, role, addedAt: new Date() })
      .onConflictDoUpdate({ target: [schema.threadMembers.threadId, schema.threadMembers.userId], set: { role } })
      .returning()
      .get();
  }

  async deleteMember(threadId: string, userId: string): Promise<boolean> {
    const deleted = this.db
      .delete(schema.threadMembers)
      .where(and(eq(schema.threadMembers.threadId, threadId), eq(schema.threadMembers.userId, userId)))
      .returning({ userId: schema.threadMembers.userId })
      .all();
    return deleted.length > 0;
  }

  async listMembers(threadId: string): Promise<Member[]> {
    return this.reads.members.all({ threadId });
  }

  async updateThread(threadId: string, patch: { title?: string; touch?: boolean }): Promise<void> {
    const values: Partial<Thread> = { updatedAt: new Date() };
    if (patch.title !== undefined) values.title = patch.title;
    this.db.update(schema.threads).set(values).where(eq(schema.threads.id, threadId)).run();
  }

  async deleteThread(threadId: string): Promise<boolean> {
    const deleted = this.db.delete(schema.threads).where(eq(schema.threads.id, threadId)).returning({ id: schema.threads.id }).all();
    return deleted.length > 0;
  }

  async insertMessage(message: NewMessage): Promise<Message> {
    const now = message.createdAt ?? new Date();
    const row: Message = {
      reasoning: null,
      toolCalls: null,
      sources: null,
      usage: null,
      error: null,
      nodeId: null,
      leaseExpiresAt: null,
      ...message,
      createdAt: now,
      updatedAt: now,
    };
    try {
      this.db.insert(schema.messages).values(row).run();
    } catch (error) {
      if (String((error as Error).message).includes("messages.thread_id")) throw new ActiveRunConflictError(message.threadId, { cause: error });
      throw error;
    }
    return row;
  }

  /**
   * Runs started in one turn of the event loop share a commit, as checkpoints do: a thousand runs
   * starting at once were a thousand commits. The counts are exact all the same: each run's are taken
   * after the writes of the runs before it in the batch, and a refused run fails the batch, whose
   * writes are then tried again one transaction each, in order.
   */
  insertRun({ thread, userMessage, runMessage }: NewRun, { maxActiveRunsPerUser, now }: RunLimits): Promise<void> {
    const { ownerId, threadId } = runMessage;
    const createdAt = new Date();
    return this.groupCommit(() => {
      const counts = this.reads.activeRuns.get({ ownerId, threadId, now: now.getTime() });
      if (counts!.busy) throw new ActiveRunConflictError(threadId);
      if (counts!.active >= maxActiveRunsPerUser) throw new RunLimitError(ownerId, maxActiveRunsPerUser);
      if (thread) this.insertRow(schema.threads, { ...thread, createdAt, updatedAt: createdAt });
      // The same time for both: rowid keeps the user's message first.
      for (const message of userMessage ? [userMessage, runMessage] : [runMessage]) {
        this.insertRow(schema.messages, { ...message, createdAt: message.createdAt ?? createdAt, updatedAt: message.createdAt ?? createdAt });
      }
    });
  }

  async updateMessage(messageId: string, patch: MessagePatch): Promise<void> {
    this.db
      .update(schema.messages)
      .set({ ...patch, updatedAt: new Date() })
      .where(eq(schema.messages.id, messageId))
      .run();
  }

  async getMessage(messageId: string): Promise<Message | undefined> {
    return this.db.select().from(schema.messages).where(eq(schema.messages.id, messageId)).get();
  }

  async deleteMessage(messageId: string): Promise<boolean> {
    const deleted = this.db.delete(schema.messages).where(eq(schema.messages.id, messageId)).returning({ id: schema.messages.id }).all();
    return deleted.length > 0;
  }

  async listMessages(threadId: string): Promise<Message[]> {
    return this.reads.messages.all({ threadId });
  }

  /** Run checkpoints share a commit (see `groupCommit`). */
  checkpoint(checkpoint: Checkpoint): Promise<void> {
    return this.groupCommit(() => this.writeCheckpoint(checkpoint));
  }

  /**
   * Writes asked for in one turn of the event loop are written in one transaction at its end
   * (group commit): with a thousand runs streaming, one commit each a second was a quarter of the
   * server's time, mostly in COMMIT. Under light load a batch is one write and waits for nothing.
   * Immediate: the write lock is taken before a write's first read, so no other connection writes in between.
   */
  private groupCommit(write: () => void): Promise<void> {
    return new Promise((resolve, reject) => {
      this.writes.push({ write, resolve, reject });
      if (this.writes.length === 1) setImmediate(() => this.writeBatch());
    });
  }

  private writeBatch(): void {
    const batch = this.writes.splice(0);
    try {
      this.sqlite.transaction(() => {
        for (const { write } of batch) write();
      }).immediate();
    } catch {
      // One write's failure must not fail the others: each is tried alone, and fails alone.
      for (const { write, resolve, reject } of batch) {
        try {
          this.sqlite.transaction(write).immediate();
          resolve();
        } catch (error) {
          reject(error);
        }
      }
      return;
    }
    for (const { resolve } of batch) resolve();
  }

  private writeCheckpoint({ messageId, patch, threadId, eventSeq, eventEpoch }: Checkpoint): void {
    const now = Date.now();
    const update = this.rowWrite("update", schema.messages, patch, (names) => `UPDATE "messages" SET ${[...names, `"${schema.messages.updatedAt.name}"`].map((name) => `${name} = ?`).join(", ")} WHERE "id" = ?`);
    update.run(now, messageId);
    this.threadEventUpdate ??= this.sqlite.prepare(`UPDATE "threads" SET "event_seq" = ?, "event_epoch" = ?, "updated_at" = ? WHERE "id" = ?`);
    this.threadEventUpdate.run(eventSeq, eventEpoch, now, threadId);
  }

  /** INSERT of `row`'s values into `table`; the columns it has no value for take their defaults. */
  private insertRow(table: typeof schema.threads | typeof schema.messages, row: Record<string, unknown>): void {
    const name = getTableName(table);
    this.rowWrite("insert", table, row, (names) => `INSERT INTO "${name}" (${names.join(", ")}) VALUES (${names.map(() => "?").join(", ")})`).run();
  }

  /**
   * The statement `build` makes from the quoted names of the columns `values` has a value for, prepared
   * once per table and set of columns, bound to those values: `run` takes the parameters that follow.
   * Values go through each column's own mapping (dates as numbers, JSON columns as text), as drizzle's did.
   */
  private rowWrite(kind: string, table: typeof schema.threads | typeof schema.messages, values: object, build: (names: string[]) => string): { run(...rest: (string | number)[]): void } {
    const all = getTableColumns(table) as Record<string, Column>;
    const row = values as Record<string, unknown>;
    const keys = Object.keys(row).filter((key) => row[key] !== undefined && key in all);
    const shape = `${kind} ${getTableName(table)} ${keys.join()}`;
    let write = this.rowWrites.get(shape);
    if (!write) {
      const columns = keys.map((key) => all[key]!);
      write = { statement: this.sqlite.prepare(build(columns.map((column) => `"${column.name}"`))), columns };
      this.rowWrites.set(shape, write);
    }
    const { statement, columns } = write;
    const bound = keys.map((key, index) => (row[key] === null ? null : (columns[index]!.mapToDriverValue(row[key]) as string | number)));
    return { run: (...rest) => statement.run(...bound, ...rest) };
  }

  async searchMessages(ownerId: string, query: string, limit: number): Promise<SearchHit[]> {
    const match = ftsQuery(query);
    if (!match) return [];
    // Streaming messages are not in the index (drizzle/sqlite/0005): the owner's, as many as their
    // active runs, are added for this one query and taken out again by the rollback. Every transaction
    // on this connection begins and ends within one synchronous call, so none is open here (BEGIN
    // would throw) and no checkpoint batch can write in between.
    this.sqlite.run("BEGIN IMMEDIATE");
    let rows: { id: string; thread_id: string; title: string; role: "user" | "assistant"; snippet: string; created_at: number }[];
    try {
      this.sqlite
        .query<unknown, [string]>(`INSERT INTO messages_fts(rowid, content) SELECT rowid, content FROM messages WHERE owner_id = ? AND status = 'streaming'`)
        .run(ownerId);
      rows = this.sqlite
        .query<(typeof rows)[number], [string, string, number]>(
          `SELECT m.id, m.thread_id, t.title, m.role, m.created_at,
                  snippet(messages_fts, 0, '', '', '…', 16) AS snippet
             FROM messages_fts
             JOIN messages m ON m.rowid = messages_fts.rowid
             JOIN threads t ON t.id = m.thread_id
            WHERE messages_fts MATCH ? AND m.owner_id = ?
            ORDER BY rank
            LIMIT ?`,
        )
        .all(match, ownerId, limit);
    } finally {
      // SQLite may have rolled back already on its own after some errors.
      if (this.sqlite.inTransaction) this.sqlite.run("ROLLBACK");
    }
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
    return this.db.transaction((tx) => {
      const thread = tx.select().from(schema.threads).where(eq(schema.threads.id, threadId)).get();
      if (!thread) return undefined;
      const messages = tx
        .select()
        .from(schema.messages)
        .where(eq(schema.messages.threadId, threadId))
        .orderBy(asc(schema.messages.createdAt), asc(sql`rowid`))
        .all();
      return { thread, messages };
    });
  }

  async interruptUnfinished(): Promise<number> {
    const interrupted = this.db
      .update(schema.messages)
      .set({ status: "interrupted", updatedAt: new Date() })
      .where(inArray(schema.messages.status, ["streaming", "awaiting_approval"]))
      .returning({ id: schema.messages.id })
      .all();
    return interrupted.length;
  }

  async renewLeases(nodeId: string, expiresAt: Date): Promise<void> {
    this.db
      .update(schema.messages)
      .set({ leaseExpiresAt: expiresAt })
      .where(and(eq(schema.messages.nodeId, nodeId), inArray(schema.messages.status, ["streaming", "awaiting_approval"])))
      .run();
  }

  async reapExpiredRuns(now: Date): Promise<Message[]> {
    return this.db
      .update(schema.messages)
      .set({ status: "interrupted", updatedAt: now })
      .where(and(inArray(schema.messages.status, ["streaming", "awaiting_approval"]), lt(schema.messages.leaseExpiresAt, now)))
      .returning()
      .all();
  }

  async ping(): Promise<void> {
    this.sqlite.query("SELECT 1").get();
  }

  async close(): Promise<void> {
    this.sqlite.close(false);
  }
}

/** Reads that every run start makes, as drizzle prepared queries with placeholders: built once, not for every call. */
function prepareReads(db: BunSQLiteDatabase<typeof schema>) {
  const threadId = sql.placeholder("threadId");
  const lease = schema.messages.leaseExpiresAt;
  return {
    // A run start's limits: the owner's active runs (an expired lease no longer counts; `now` in ms) and whether this thread has one.
    activeRuns: db
      .select({
        active: sql<number>`count(*) filter (where ${or(isNull(lease), gte(lease, sql.placeholder("now")))})`.mapWith(Number),
        busy: sql<boolean>`coalesce(max(${eq(schema.messages.threadId, threadId)}), 0)`.mapWith(Boolean),
      })
      .from(schema.messages)
      .where(and(eq(schema.messages.ownerId, sql.placeholder("ownerId")), eq(schema.messages.role, "assistant"), inArray(schema.messages.status, ["streaming", "awaiting_approval"])))
      .prepare(),
    thread: db.select().from(schema.threads).where(eq(schema.threads.id, threadId)).prepare(),
    role: db
      .select({ ownerId: schema.threads.ownerId, role: schema.threadMembers.role })
      .from(schema.threads)
      .leftJoin(schema.threadMembers, and(eq(schema.threadMembers.threadId, schema.threads.id), eq(schema.threadMembers.userId, sql.placeholder("userId"))))
      .where(eq(schema.threads.id, threadId))
      .prepare(),
    messages: db.select().from(schema.messages).where(eq(schema.messages.threadId, threadId)).orderBy(asc(schema.messages.createdAt), asc(sql`rowid`)).prepare(),
    members: db
      .select()
      .from(schema.threadMembers)
      .where(eq(schema.threadMembers.threadId, threadId))
      .orderBy(asc(schema.threadMembers.addedAt), asc(schema.threadMembers.userId))
      .prepare(),
  };
}

// Distinct query shapes are a few dozen; the bound only keeps a bug that makes SQL from values from growing it.
const MAX_CACHED_STATEMENTS = 500;

/**
 * `sqlite` with `prepare` answering each SQL text with the statement compiled the first time: drizzle
 * prepares every query it runs, and compiling the same few statements for every run started, every
 * read of a thread, was the rest of the server's SQLite time with a thousand runs. Statements are
 * reused one call at a time (drizzle runs them to completion), so sharing one is safe.
 */
function withStatementCache(sqlite: Database): Database {
  const statements = new Map<string, Statement>();
  const prepare = sqlite.prepare.bind(sqlite);
  sqlite.prepare = ((text: string) => {
    let statement = statements.get(text);
    if (!statement) {
      if (statements.size >= MAX_CACHED_STATEMENTS) statements.clear();
      statement = prepare(text);
      statements.set(text, statement);
    }
    return statement;
  }) as Database["prepare"];
  return sqlite;
}

/** Words of a free-text query as an FTS5 expression: each quoted (no operator injection), all required. */
function ftsQuery(query: string): string | undefined {
  const words = query.match(/[\p{L}\p{N}_]+/gu);
  if (!words) return undefined;
  return words.slice(0, 16).map((word) => `"${word}"`).join(" ");
}
