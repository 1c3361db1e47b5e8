// Reads a stdio MCP server's JSON-RPC messages, one per line, holding at most MCP_MAX_MESSAGE_BYTES of a
// line. It takes the place of the SDK's buffer, which closes the connection on a line over its limit
// (and below it copies the whole buffer on every chunk): a longer tool result here becomes its opening
// text, so the call gets a bounded answer and the server stays connected (docs/protocol.md section 13.4).

import { deserializeMessage } from "@modelcontextprotocol/sdk/shared/stdio.js";
import type { JSONRPCMessage } from "@modelcontextprotocol/sdk/types.js";
import { BoundedLines, cutMessage } from "./bounded-lines.ts";

type Line = { text: string } | { message: JSONRPCMessage };

/** Has the SDK ReadBuffer's shape: `append`, `readMessage`, `clear`. */
export class BoundedReadBuffer {
  private readonly lines: Line[] = [];
  private readonly splitter: BoundedLines;

  /** `onOversized` hears of every line over the bound, with whether it could be answered. */
  constructor(maxBytes: number, onOversized: (bytes: number, answered: boolean) => void = () => {}) {
    this.splitter = new BoundedLines(maxBytes, (line) => {
      if ("text" in line) {
        if (line.text.trim() !== "") this.lines.push({ text: line.text });
        return;
      }
      const message = cutMessage(line.head, line.tail, line.bytes, maxBytes);
      onOversized(line.bytes, message !== undefined);
      if (message) this.lines.push({ message });
    });
  }

  append(chunk: Buffer): void {
    this.splitter.push(chunk);
  }

  /** The next complete message, or null; throws on a line that is not a JSON-RPC message (the SDK reports it and goes on). */
  readMessage(): JSONRPCMessage | null {
    const line = this.lines.shift();
    if (!line) return null;
    return "message" in line ? line.message : deserializeMessage(line.text);
  }

  clear(): void {
    this.splitter.clear();
    this.lines.length = 0;
  }
}
