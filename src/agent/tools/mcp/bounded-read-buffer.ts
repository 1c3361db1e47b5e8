// Splits an MCP server's stdout into JSON-RPC messages, one per line, holding at most `maxBytes` of a line.
// The SDK's own buffer refuses a line over its limit by closing the connection (and, below it, copies the
// whole buffer on every chunk). Here a longer line is not held: its first `maxBytes` and last few bytes
// are kept, and a tool result it carried becomes a result cut to its opening text, marked CUT_META, so the
// call gets a bounded answer and the server stays connected (docs/protocol.md section 13).

import { deserializeMessage } from "@modelcontextprotocol/sdk/shared/stdio.js";
import type { JSONRPCMessage } from "@modelcontextprotocol/sdk/types.js";

/** `_meta` key of a result cut here: `{bytes}` is the size of the line the server wrote. */
export const CUT_META = "agentwire/cut";

// Enough for the closing `"jsonrpc":"2.0","id":...}` the SDK's servers end their answers with.
const TAIL_BYTES = 512;
const NEWLINE = 0x0a;

type Line = { text: string } | { message: JSONRPCMessage };

export class BoundedReadBuffer {
  private chunks: Buffer[] = [];
  private held = 0;
  /** Bytes of the current line past `maxBytes` that were dropped. */
  private dropped = 0;
  private tail: Buffer = Buffer.alloc(0);
  private readonly lines: Line[] = [];

  /** `onOversized` hears of every line over the bound, with whether it could be answered. */
  constructor(
    private readonly maxBytes: number,
    private readonly onOversized: (bytes: number, answered: boolean) => void = () => {},
  ) {}

  append(chunk: Buffer): void {
    let start = 0;
    for (let newline = chunk.indexOf(NEWLINE); newline >= 0; newline = chunk.indexOf(NEWLINE, start)) {
      this.take(chunk.subarray(start, newline));
      this.endLine();
      start = newline + 1;
    }
    if (start < chunk.length) this.take(chunk.subarray(start));
  }

  /** The next complete message, or null; throws on a line that is not a JSON-RPC message (the SDK reports it and goes on). */
  readMessage(): JSONRPCMessage | null {
    const line = this.lines.shift();
    if (!line) return null;
    return "message" in line ? line.message : deserializeMessage(line.text);
  }

  clear(): void {
    this.chunks = [];
    this.held = 0;
    this.dropped = 0;
    this.tail = Buffer.alloc(0);
    this.lines.length = 0;
  }

  private take(piece: Buffer): void {
    if (piece.length === 0) return;
    const room = this.maxBytes - this.held;
    if (room > 0) {
      // Copied: the transport's chunk may be a view into a pooled buffer.
      const kept = Buffer.from(piece.subarray(0, room));
      this.chunks.push(kept);
      this.held += kept.length;
    }
    if (piece.length > room) {
      this.dropped += piece.length - Math.max(room, 0);
      this.tail = Buffer.concat([this.tail, piece.subarray(Math.max(0, piece.length - TAIL_BYTES))]).subarray(-TAIL_BYTES);
    }
  }

  private endLine(): void {
    const head = Buffer.concat(this.chunks, this.held).toString("utf8");
    const total = this.held + this.dropped;
    const oversized = this.dropped > 0;
    const tail = this.tail.toString("utf8");
    this.chunks = [];
    this.held = 0;
    this.dropped = 0;
    this.tail = Buffer.alloc(0);
    if (!oversized) {
      const text = head.replace(/\r$/, "");
      if (text.trim() !== "") this.lines.push({ text });
      return;
    }
    const message = cutMessage(head, tail, total, this.maxBytes);
    this.onOversized(total, message !== undefined);
    if (message) this.lines.push({ message });
  }
}

// The id sits at the start (`{"jsonrpc":"2.0","id":7,...`) or, as the SDK's servers write it, at the end.
const ID_AT_START = /^\s*\{\s*"jsonrpc"\s*:\s*"2\.0"\s*,\s*"id"\s*:\s*(-?\d+|"(?:[^"\\]|\\.){0,200}")/;
const ID_AT_END = /"jsonrpc"\s*:\s*"2\.0"\s*,\s*"id"\s*:\s*(-?\d+|"(?:[^"\\]|\\.){0,200}")\s*\}\s*$/;
// A tool result whose first content block is text: the text's opening can be kept.
const TEXT_RESULT = /"result"\s*:\s*\{\s*"content"\s*:\s*\[\s*\{\s*"type"\s*:\s*"text"\s*,\s*"text"\s*:\s*"/;

/** The answer that stands for an over-long line: a result cut to its opening text, an error, or nothing without an id. */
function cutMessage(head: string, tail: string, bytes: number, maxBytes: number): JSONRPCMessage | undefined {
  const idText = ID_AT_START.exec(head)?.[1] ?? ID_AT_END.exec(tail)?.[1];
  if (idText === undefined) return undefined;
  const id = JSON.parse(idText) as string | number;
  const opening = TEXT_RESULT.exec(head);
  if (!opening) {
    return { jsonrpc: "2.0", id, error: { code: -32603, message: `the server's answer was ${bytes} bytes, over the ${maxBytes}-byte bound (MCP_MAX_MESSAGE_BYTES)` } };
  }
  const text = jsonStringPrefix(head.slice(opening.index + opening[0].length));
  return { jsonrpc: "2.0", id, result: { content: [{ type: "text", text }], _meta: { [CUT_META]: { bytes } } } };
}

/** Decodes the JSON string text that starts `raw` (after its opening quote), up to its end or as far as `raw` goes. */
function jsonStringPrefix(raw: string): string {
  let end = 0;
  while (end < raw.length && raw[end] !== '"') {
    const step = raw[end] !== "\\" ? 1 : raw[end + 1] === "u" ? 6 : 2;
    // An escape the bound cut in two is dropped.
    if (end + step > raw.length) break;
    end += step;
  }
  try {
    return JSON.parse(`"${raw.slice(0, end)}"`) as string;
  } catch {
    return "";
  }
}
