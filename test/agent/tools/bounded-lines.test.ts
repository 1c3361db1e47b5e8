// Reading an MCP server's messages holding at most MCP_MAX_MESSAGE_BYTES of one: the stdio line reader
// and the Streamable HTTP fetch.

import { expect, test } from "bun:test";
import { CUT_META } from "../../../src/agent/tools/mcp/bounded-lines.ts";
import { boundedFetch } from "../../../src/agent/tools/mcp/bounded-fetch.ts";
import { BoundedReadBuffer } from "../../../src/agent/tools/mcp/bounded-read-buffer.ts";

function read(buffer: BoundedReadBuffer): unknown[] {
  const messages: unknown[] = [];
  for (let message = buffer.readMessage(); message; message = buffer.readMessage()) messages.push(message);
  return messages;
}

test("messages split across chunks, several in one chunk, come out whole and in order", () => {
  const buffer = new BoundedReadBuffer(1024);
  const text = '{"jsonrpc":"2.0","id":1,"result":{}}\n{"jsonrpc":"2.0","method":"notifications/tools/list_changed"}\r\n{"jsonrpc":"2.0","id":2,"result":{}}\n';
  for (let start = 0; start < text.length; start += 7) buffer.append(Buffer.from(text.slice(start, start + 7)));
  expect(read(buffer)).toEqual([
    { jsonrpc: "2.0", id: 1, result: {} },
    { jsonrpc: "2.0", method: "notifications/tools/list_changed" },
    { jsonrpc: "2.0", id: 2, result: {} },
  ]);
});

test("an over-long tool result becomes its opening text, escapes decoded and none cut in half, whichever end holds the id", () => {
  const oversized: { bytes: number; answered: boolean }[] = [];
  const buffer = new BoundedReadBuffer(128, (bytes, answered) => oversized.push({ bytes, answered }));
  const long = 'line one\n"quoted" \u00e9 ' + "y".repeat(500);
  const idFirst = JSON.stringify({ jsonrpc: "2.0", id: "call-1", result: { content: [{ type: "text", text: long }] } });
  const idLast = JSON.stringify({ result: { content: [{ type: "text", text: long }] }, jsonrpc: "2.0", id: 7 });
  buffer.append(Buffer.from(`${idFirst}\n${idLast}\n`));
  const [first, last] = read(buffer) as { id: unknown; result: { content: { text: string }[]; _meta: Record<string, unknown> } }[];
  expect(first!.id).toBe("call-1");
  expect(long.startsWith(first!.result.content[0]!.text)).toBe(true);
  expect(first!.result.content[0]!.text).toStartWith('line one\n"quoted"');
  expect(first!.result._meta[CUT_META]).toEqual({ bytes: Buffer.byteLength(idFirst) });
  expect(last!.id).toBe(7);
  expect(long.startsWith(last!.result.content[0]!.text)).toBe(true);
  expect(oversized).toEqual([
    { bytes: Buffer.byteLength(idFirst), answered: true },
    { bytes: Buffer.byteLength(idLast), answered: true },
  ]);
});

test("an over-long answer of another shape is an error for its request; one without an id is dropped; the next line is read", () => {
  const buffer = new BoundedReadBuffer(64);
  const listing = JSON.stringify({ jsonrpc: "2.0", id: 3, result: { tools: [{ name: "x".repeat(200) }] } });
  const notification = JSON.stringify({ jsonrpc: "2.0", method: "notifications/message", params: { data: "z".repeat(200) } });
  buffer.append(Buffer.from(`${listing}\n${notification}\n{"jsonrpc":"2.0","id":4,"result":{}}\n`));
  const messages = read(buffer) as { id: number; error?: { message: string } }[];
  expect(messages.map((message) => message.id)).toEqual([3, 4]);
  expect(messages[0]!.error?.message).toContain(`${Buffer.byteLength(listing)} bytes`);
});

test("over HTTP, a long JSON body is cut like a long line, or answers the posted request with an error", async () => {
  const answers: string[] = [];
  const fetchAnswering = (body: string) => boundedFetch(128, () => {}, async () => new Response(body, { headers: { "content-type": "application/json" } }));
  const request = { method: "POST", body: JSON.stringify({ jsonrpc: "2.0", id: 9, method: "tools/call" }) };
  const long = JSON.stringify({ result: { content: [{ type: "text", text: "w".repeat(1000) }] }, jsonrpc: "2.0", id: 9 });
  answers.push(await (await fetchAnswering(long)("http://localhost/mcp", request)).text());
  const batch = JSON.stringify([{ jsonrpc: "2.0", id: 9, result: { tools: [{ name: "v".repeat(1000) }] } }]);
  answers.push(await (await fetchAnswering(batch)("http://localhost/mcp", request)).text());
  const short = JSON.stringify({ jsonrpc: "2.0", id: 9, result: {} });
  answers.push(await (await fetchAnswering(short)("http://localhost/mcp", request)).text());
  const [cut, refused, whole] = answers.map((answer) => JSON.parse(answer));
  expect(cut).toMatchObject({ id: 9, result: { _meta: { [CUT_META]: { bytes: long.length } } } });
  expect(cut.result.content[0].text).toMatch(/^w+$/);
  expect(refused).toMatchObject({ id: 9, error: { message: `the server's answer was ${batch.length} bytes, over the 128-byte bound (MCP_MAX_MESSAGE_BYTES)` } });
  expect(whole).toEqual({ jsonrpc: "2.0", id: 9, result: {} });
});
