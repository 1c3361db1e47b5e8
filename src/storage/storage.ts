// The repository interface over threads and messages; one implementation per SQL dialect.

import type { MemberRole, MessageRole, MessageStatus, ThreadRole } from "../protocol/rest-views.ts";

export type { MemberRole, MessageRole, MessageStatus, ThreadRole };

export interface Thread {
  id: string;
  ownerId: string;
  title: string;
  /** The last event of the thread channel (seq within `eventEpoch`) that the stored messages reflect. */
  eventSeq: number | null;
  eventEpoch: string | null;
  createdAt: Date;
  updatedAt: Date;
}

/** A thread and the role on it of the user who listed it. */
export type ThreadWithRole = Thread & { role: ThreadRole };

/** A user a thread is shared with. */
export interface Member {
  threadId: string;
  userId: string;
  role: MemberRole;
  addedAt: Date;
}

export interface Message {
  id: string;
  threadId: string;
  ownerId: string;
  role: MessageRole;
  content: string;
  status: MessageStatus;
  reasoning: string | null;
  toolCalls: unknown;
  sources: unknown;
  usage: unknown;
  error: unknown;
  /** The node running this message's run, while it runs. */
  nodeId: string | null;
  /** Until when that node's lease on the run holds; past it another node may reap the run. */
  leaseExpiresAt: Date | null;
  createdAt: Date;
  updatedAt: Date;
}

export type NewMessage = Pick<Message, "id" | "threadId" | "ownerId" | "role" | "content" | "status"> &
  Partial<Pick<Message, "reasoning" | "toolCalls" | "sources" | "usage" | "error" | "nodeId" | "leaseExpiresAt" | "createdAt">>;

/** Thrown by insertMessage and insertRun when the thread already has an unfinished assistant message (an active run). */
export class ActiveRunConflictError extends Error {
  override readonly name = "ActiveRunConflictError";
  constructor(readonly threadId: string, options?: { cause?: unknown }) {
    super(`thread ${threadId} already has an active run`, options);
  }
}

/** Thrown by insertRun when the owner already has as many active runs as the limit allows. */
export class RunLimitError extends Error {
  override readonly name = "RunLimitError";
  constructor(readonly ownerId: string, readonly limit: number, options?: { cause?: unknown }) {
    super(`${ownerId} already has ${limit} active runs`, options);
  }
}

/**
 * What starting a run stores: its thread when new, the user's message (none when the run answers the
 * thread's last one again), and the run's unfinished assistant message.
 */
export interface NewRun {
  thread?: Pick<Thread, "id" | "ownerId" | "title">;
  userMessage?: NewMessage;
  runMessage: NewMessage;
}

export interface RunLimits {
  /** The most active runs one owner may have, on all nodes together. */
  maxActiveRunsPerUser: number;
  /** The time a lease is compared with: one that ended before it no longer counts. */
  now: Date;
}

export type MessagePatch = Partial<Pick<Message, "content" | "status" | "reasoning" | "toolCalls" | "sources" | "usage" | "error">>;

export interface SearchHit {
  messageId: string;
  threadId: string;
  threadTitle: string;
  role: MessageRole;
  snippet: string;
  createdAt: Date;
}

/** A run's progress written together with the thread-channel event it reflects. */
export interface Checkpoint {
  messageId: string;
  patch: MessagePatch;
  threadId: string;
  eventSeq: number;
  eventEpoch: string;
}

export interface Storage {
  readonly dialect: "sqlite" | "postgres";
  /** The owner of a thread, or undefined when there is no such thread. */
  threadOwner(threadId: string): Promise<string | undefined>;
  createThread(input: { id?: string; ownerId: string; title?: string }): Promise<Thread>;
  getThread(threadId: string): Promise<Thread | undefined>;
  /** The owner's threads, most recently updated first. */
  listThreads(ownerId: string, limit?: number): Promise<Thread[]>;
  /** The user's role on a thread: owner or member; undefined when neither, or no such thread. */
  threadRole(threadId: string, userId: string): Promise<ThreadRole | undefined>;
  /** The threads the user owns and those shared with it, each with its role, most recently updated first. */
  listAccessibleThreads(userId: string, limit?: number): Promise<ThreadWithRole[]>;
  /** Adds a member or changes its role (keeping when it was first added); returns the member as stored. */
  putMember(threadId: string, userId: string, role: MemberRole): Promise<Member>;
  /** Removes a member; false when it was none. */
  deleteMember(threadId: string, userId: string): Promise<boolean>;
  /** A thread's members, in the order they were added. */
  listMembers(threadId: string): Promise<Member[]>;
  updateThread(threadId: string, patch: { title?: string; touch?: boolean }): Promise<void>;
  deleteThread(threadId: string): Promise<boolean>;
  insertMessage(message: NewMessage): Promise<Message>;
  /**
   * Stores a run's start in one transaction, atomic across nodes, checked against the owner's active
   * runs: unfinished assistant messages whose lease has not expired (a run without a lease counts
   * too, as the reaper never ends it). Throws ActiveRunConflictError when the thread has an
   * unfinished message, else RunLimitError when the owner is at the limit; then nothing is stored.
   */
  insertRun(run: NewRun, limits: RunLimits): Promise<void>;
  updateMessage(messageId: string, patch: MessagePatch): Promise<void>;
  getMessage(messageId: string): Promise<Message | undefined>;
  /** Deletes one message; false when there was none. */
  deleteMessage(messageId: string): Promise<boolean>;
  /** A thread's messages, oldest first. */
  listMessages(threadId: string): Promise<Message[]>;
  /** The thread and its messages read in one transaction, so `eventSeq` matches the messages. */
  threadSnapshot(threadId: string): Promise<{ thread: Thread; messages: Message[] } | undefined>;
  /** Saves a message's progress and the thread's reflected event in one transaction. */
  checkpoint(checkpoint: Checkpoint): Promise<void>;
  /** Full-text search over the owner's messages, best matches first. */
  searchMessages(ownerId: string, query: string, limit: number): Promise<SearchHit[]>;
  /** Marks every message left `streaming` or `awaiting_approval` as `interrupted`; returns how many. */
  interruptUnfinished(): Promise<number>;
  /** Extends the lease of every unfinished message run by `nodeId`. */
  renewLeases(nodeId: string, expiresAt: Date): Promise<void>;
  /**
   * Marks unfinished messages whose lease expired before `now` as `interrupted` and returns them;
   * each row is returned to one caller only, however many nodes reap at once.
   */
  reapExpiredRuns(now: Date): Promise<Message[]>;
  /** Throws when the database cannot be reached. */
  ping(): Promise<void>;
  close(): Promise<void>;
}
