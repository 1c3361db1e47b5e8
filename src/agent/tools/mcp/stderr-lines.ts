// An MCP server's stderr as bounded lines for the structured log: never to clients, never unbounded.

import type { Stream } from "node:stream";

const MAX_LINE_CHARS = 2000;

export function forwardStderr(stream: Stream, log: (line: string) => void): void {
  let partial = "";
  stream.on("data", (chunk: Buffer | string) => {
    const lines = (partial + chunk.toString()).split("\n");
    partial = lines.pop()!;
    // A line with no end in sight is logged in pieces rather than held.
    if (partial.length > MAX_LINE_CHARS) {
      lines.push(partial);
      partial = "";
    }
    for (const line of lines) if (line.trim() !== "") log(line.slice(0, MAX_LINE_CHARS));
  });
  stream.on("end", () => {
    if (partial.trim() !== "") log(partial.slice(0, MAX_LINE_CHARS));
  });
}
