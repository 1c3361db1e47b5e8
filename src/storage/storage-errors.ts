// What a failed storage call means to its caller: the database is out of reach (`unavailable`, retry
// later), or it refused the query (StorageError, `internal`), named by the driver's code alone.

import { ErrorCode, ProtocolError } from "../protocol/index.ts";
import { ActiveRunConflictError, RunLimitError } from "./storage.ts";

/**
 * A query the database failed for a reason other than its availability. The message names the driver's
 * code only: drizzle's and the drivers' own messages can quote the query's parameters, user text among
 * them, so they stay in the cause (which the logger redacts) and out of this message.
 */
export class StorageError extends Error {
  override readonly name = "StorageError";
  constructor(
    readonly code: string,
    options?: { cause?: unknown },
  ) {
    super(`the database failed the query (${code})`, options);
  }
}

/** Bun SQL's codes for a connection that could not be made or was lost (not for a query the server refused). */
const unreachableDriverCodes = new Set([
  "ERR_POSTGRES_CONNECTION_CLOSED",
  "ERR_POSTGRES_CONNECTION_FAILED",
  "ERR_POSTGRES_CONNECTION_REFUSED",
  "ERR_POSTGRES_CONNECTION_TIMEOUT",
  "ERR_POSTGRES_IDLE_TIMEOUT",
  "ERR_POSTGRES_LIFETIME_TIMEOUT",
  // A socket error surfacing as is.
  "ECONNREFUSED",
  "ECONNRESET",
  "ECONNABORTED",
  "EPIPE",
  "ETIMEDOUT",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "EAI_AGAIN",
]);

/** PostgreSQL's SQLSTATEs that mean "not now" rather than "not this query". */
function unavailableSqlState(state: string): boolean {
  return (
    state.startsWith("08") || // connection exception
    state.startsWith("53") || // insufficient resources: too many connections, out of memory or disk
    state === "57P01" || // admin shutdown (also a backend terminated by an administrator)
    state === "57P02" || // crash shutdown
    state === "57P03" // cannot connect now: starting up or shutting down
  );
}

interface DriverCodes {
  /** Bun's, SQLite's or the socket's code, e.g. ERR_POSTGRES_CONNECTION_CLOSED, SQLITE_BUSY, ECONNRESET. */
  code?: string;
  /** PostgreSQL's SQLSTATE, which Bun SQL puts in `errno`. */
  sqlState?: string;
}

const CODE = /^[A-Za-z0-9_]{1,64}$/;

function codesOf(error: unknown): DriverCodes {
  const { code, errno } = error as { code?: unknown; errno?: unknown };
  return {
    code: typeof code === "string" && CODE.test(code) ? code : undefined,
    sqlState: typeof errno === "string" && /^[0-9A-Z]{5}$/.test(errno) ? errno : undefined,
  };
}

function unavailable(codes: DriverCodes): boolean {
  if (codes.sqlState && unavailableSqlState(codes.sqlState)) return true;
  const code = codes.code;
  if (!code) return false;
  // SQLite: another connection holds the lock past busy_timeout.
  return unreachableDriverCodes.has(code) || code.startsWith("SQLITE_BUSY") || code.startsWith("SQLITE_LOCKED");
}

/**
 * The error a caller of storage sees for anything a storage call threw: our own errors as they are, a
 * database out of reach as `unavailable`, anything else as a StorageError; the original is the cause.
 */
export function storageFailure(error: unknown): Error {
  if (error instanceof ProtocolError || error instanceof StorageError) return error;
  if (error instanceof ActiveRunConflictError || error instanceof RunLimitError) return error;
  let named: DriverCodes | undefined;
  // drizzle wraps the driver's error (DrizzleQueryError); the codes are on the driver's, down the chain.
  for (let current: unknown = error, depth = 0; current instanceof Error && depth < 8; current = current.cause, depth++) {
    const codes = codesOf(current);
    if (unavailable(codes)) return new ProtocolError(ErrorCode.unavailable, "storage is unavailable; retry later", undefined, { cause: error });
    if (!named && (codes.sqlState || codes.code)) named = codes;
  }
  return new StorageError(named?.sqlState ?? named?.code ?? "unknown", { cause: error });
}
