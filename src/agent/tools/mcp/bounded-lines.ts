// Splits a byte stream from an MCP server into lines, holding at most `maxBytes` of any line: a longer
// line is reported by its first `maxBytes` and last few bytes, never held whole. `cutMessage` turns such
// a line, when it was a JSON-RPC answer, into a bounded answer for the same request (docs/protocol.md
// section 13.4). Shared by the stdio reader and the Streamable HTTP fetch.

import type { JSONRPCMessage } from "@modelcontextprotocol/sdk/types.js";

/** `_meta` key of a result cut here: `{bytes}` is the size of the line the server wrote. */
export const CUT_META = "agentwire/cut";

/** A whole line, or what was kept of one over the bound. */
export type BoundedLine = { text: string } | { head: string; tail: string; bytes: number };

// Enough for the closing `"jsonrpc":"2.0","id":...}` the SDK's servers end their answers with.
const TAIL_BYTES = 512;
const NEWLINE = 0x0a;

export class BoundedLines {
  private chunks: Uint8Array[] = [];
  private held = 0;
  /** Bytes of the current line past `maxBytes` that were dropped. */
  private dropped = 0;
  private tail: Buffer = Buffer.alloc(0);

  /** `wholeStream`: newlines do not end lines, the stream is one line (a JSON body). */
  constructor(
    readonly maxBytes: number,
    private readonly onLine: (line: BoundedLine) => void,
    private readonly wholeStream = false,
  ) {}

  push(chunk: Uint8Array): void {
    const bytes = Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength);
    if (this.wholeStream) return this.take(bytes);
    let start = 0;
    for (let newline = bytes.indexOf(NEWLINE); newline >= 0; newline = bytes.indexOf(NEWLINE, start)) {
      this.take(bytes.subarray(start, newline));
      this.endLine();
      start = newline + 1;
    }
    if (start < bytes.length) this.take(bytes.subarray(start));
  }

  /** Ends the last line, when the stream ends without a newline. */
  end(): void {
    if (this.held > 0 || this.dropped > 0) this.endLine();
  }

  clear(): void {
    this.chunks = [];
    this.held = 0;
    this.dropped = 0;
    this.tail = Buffer.alloc(0);
  }

  private take(piece: Buffer): void {
    if (piece.length === 0) return;
    const room = this.maxBytes - this.held;
    if (room > 0) {
      // Copied: the stream's chunk may be a view into a pooled buffer.
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
    const line: BoundedLine = this.dropped === 0 ? { text: head.replace(/\r$/, "") } : { head, tail: this.tail.toString("utf8"), bytes: this.held + this.dropped };
    this.clear();
    this.onLine(line);
  }
}

// The id sits at the start (`{"jsonrpc":"2.0","id":7,...`) or, as the SDK's servers write it, at the end.
const ID_AT_START = /^\s*\{\s*"jsonrpc"\s*:\s*"2\.0"\s*,\s*"id"\s*:\s*(-?\d+|"(?:[^"\\]|\\.){0,200}")/;
const ID_AT_END = /"jsonrpc"\s*:\s*"2\.0"\s*,\s*"id"\s*:\s*(-?\d+|"(?:[^"\\]|\\.){0,200}")\s*\}\s*$/;
// A tool result whose first content block is text: the text's opening can be kept.
const TEXT_RESULT = /"result"\s*:\s*\{\s*"content"\s*:\s*\[\s*\{\s*"type"\s*:\s*"text"\s*,\s*"text"\s*:\s*"/;

/**
 * The answer that stands for an over-long line holding a JSON-RPC message: a result cut to its opening
 * text (marked CUT_META), an error for the request, or undefined when it answers no request.
 */
export function cutMessage(head: string, tail: string, bytes: number, maxBytes: number): JSONRPCMessage | undefined {
  const idText = ID_AT_START.exec(head)?.[1] ?? ID_AT_END.exec(tail)?.[1];
  if (idText === undefined) return undefined;
  const id = JSON.parse(idText) as string | number;
  const opening = TEXT_RESULT.exec(head);
  if (!opening) return tooLong(id, bytes, maxBytes);
  const text = jsonStringPrefix(head.slice(opening.index + opening[0].length));
  return { jsonrpc: "2.0", id, result: { content: [{ type: "text", text }], _meta: { [CUT_META]: { bytes } } } };
}

/** The error answer to request `id` whose answer was too long to keep any of it. */
export function tooLong(id: string | number, bytes: number, maxBytes: number): JSONRPCMessage {
  return { jsonrpc: "2.0", id, error: { code: -32603, message: `the server's answer was ${bytes} bytes, over the ${maxBytes}-byte bound (MCP_MAX_MESSAGE_BYTES)` } };
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
