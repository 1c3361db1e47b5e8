// Structured JSON logs, one object per line, filtered by LOG_LEVEL.

const levels = { debug: 10, info: 20, warn: 30, error: 40, silent: 100 } as const;
export type LogLevel = keyof typeof levels;

export interface Logger {
  /** Whether debug lines are written: a caller on a hot path builds a line's fields only then. */
  readonly debugEnabled: boolean;
  debug(message: string, fields?: Record<string, unknown>): void;
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
  child(fields: Record<string, unknown>): Logger;
}

export type LogSink = (line: string) => void;

const stdoutSink: LogSink = (line) => process.stdout.write(line + "\n");

// Where an error's message may quote a query's parameters, user text among them: drizzle's "Failed query:
// ...\nparams: ..." and PostgreSQL's `invalid input syntax for type integer: "..."`, `value "..." is out of range`.
const queryParameters: [RegExp, string][] = [
  [/\b(params|parameters):[\s\S]*$/i, "$1: [redacted]"],
  [/(:\s*)"[\s\S]*"/, '$1"[redacted]"'],
  [/\bvalue "[\s\S]*?"(?= is out of range)/, 'value "[redacted]"'],
];

/** The message without anything that looks like a query parameter: logs never carry user text (docs/protocol.md section 8.2). */
export function redactQueryParameters(message: string): string {
  let redacted = message;
  for (const [pattern, replacement] of queryParameters) redacted = redacted.replace(pattern, replacement);
  return redacted;
}

const TOKEN = /^[\w.-]{1,64}$/;
const token = (value: unknown) => (typeof value === "string" && TOKEN.test(value)) || (typeof value === "number" && Number.isFinite(value));

/** An error and its causes as JSON: redacted messages, the stack's frames (its first line repeats the message), driver codes. */
function serializeError(error: unknown, depth = 0): unknown {
  if (!(error instanceof Error)) return error;
  const message = redactQueryParameters(error.message);
  const frames = (error.stack ?? "").split("\n").filter((line) => /^\s+at /.test(line));
  const { code, errno, cause } = error as { code?: unknown; errno?: unknown; cause?: unknown };
  return {
    name: error.name,
    message,
    stack: [`${error.name}: ${message}`, ...frames].join("\n"),
    ...(token(code) ? { code } : {}),
    ...(token(errno) ? { errno } : {}),
    ...(cause !== undefined && depth < 8 ? { cause: serializeError(cause, depth + 1) } : {}),
  };
}

export function createLogger(level: LogLevel, sink: LogSink = stdoutSink, base: Record<string, unknown> = {}): Logger {
  const threshold = levels[level];
  const write = (lineLevel: Exclude<LogLevel, "silent">, message: string, fields?: Record<string, unknown>) => {
    if (levels[lineLevel] < threshold) return;
    const record: Record<string, unknown> = { time: new Date().toISOString(), level: lineLevel, msg: message, ...base };
    if (fields) for (const [key, value] of Object.entries(fields)) record[key] = key === "error" ? serializeError(value) : value;
    sink(JSON.stringify(record));
  };
  return {
    debugEnabled: levels.debug >= threshold,
    debug: (message, fields) => write("debug", message, fields),
    info: (message, fields) => write("info", message, fields),
    warn: (message, fields) => write("warn", message, fields),
    error: (message, fields) => write("error", message, fields),
    child: (fields) => createLogger(level, sink, { ...base, ...fields }),
  };
}
