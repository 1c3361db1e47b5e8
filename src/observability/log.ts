// Structured JSON logs, one object per line, filtered by LOG_LEVEL.

const levels = { debug: 10, info: 20, warn: 30, error: 40, silent: 100 } as const;
export type LogLevel = keyof typeof levels;

export interface Logger {
  debug(message: string, fields?: Record<string, unknown>): void;
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
  child(fields: Record<string, unknown>): Logger;
}

export type LogSink = (line: string) => void;

const stdoutSink: LogSink = (line) => process.stdout.write(line + "\n");

function serializeError(error: unknown): unknown {
  if (!(error instanceof Error)) return error;
  const cause = (error as { cause?: unknown }).cause;
  return { name: error.name, message: error.message, stack: error.stack, ...(cause ? { cause: serializeError(cause) } : {}) };
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
    debug: (message, fields) => write("debug", message, fields),
    info: (message, fields) => write("info", message, fields),
    warn: (message, fields) => write("warn", message, fields),
    error: (message, fields) => write("error", message, fields),
    child: (fields) => createLogger(level, sink, { ...base, ...fields }),
  };
}
