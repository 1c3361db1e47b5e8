// The fetch the Streamable HTTP transport uses: a server's answers are read holding at most
// MCP_MAX_MESSAGE_BYTES of one message, as for a stdio server, instead of the SDK reading each whole.
// A JSON body is one message; an event stream is read line by line, each `data:` line one message. A
// longer tool result becomes its opening text, another long answer an error for its request
// (docs/protocol.md section 13.4).

import type { FetchLike } from "@modelcontextprotocol/sdk/shared/transport.js";
import type { JSONRPCMessage } from "@modelcontextprotocol/sdk/types.js";
import { BoundedLines, cutMessage, tooLong, type BoundedLine } from "./bounded-lines.ts";

export type OversizedListener = (bytes: number, answered: boolean) => void;

export function boundedFetch(maxBytes: number, onOversized: OversizedListener, base: FetchLike = fetch): FetchLike {
  return async (url, init) => {
    const response = await base(url, init);
    if (!response.ok || !response.body) return response;
    const type = response.headers.get("content-type") ?? "";
    const rebuilt = (body: BodyInit) => new Response(body, { status: response.status, statusText: response.statusText, headers: response.headers });
    if (type.includes("text/event-stream")) return rebuilt(boundEventStream(response.body, maxBytes, onOversized));
    if (type.includes("application/json")) return rebuilt(await readJsonBody(response.body, maxBytes, onOversized, init?.body));
    return response;
  };
}

function boundEventStream(body: ReadableStream<Uint8Array>, maxBytes: number, onOversized: OversizedListener): ReadableStream<Uint8Array> {
  const encoder = new TextEncoder();
  const out: Uint8Array[] = [];
  const lines = new BoundedLines(maxBytes, (line) => {
    if ("text" in line) return void out.push(encoder.encode(line.text + "\n"));
    // Only `data:` lines carry messages; another line that long is dropped.
    const message = line.head.startsWith("data:") ? cutMessage(line.head.replace(/^data: ?/, ""), line.tail, line.bytes, maxBytes) : undefined;
    onOversized(line.bytes, message !== undefined);
    if (message) out.push(encoder.encode(`data: ${JSON.stringify(message)}\n`));
  });
  const flushTo = (controller: TransformStreamDefaultController<Uint8Array>) => {
    for (const piece of out.splice(0)) controller.enqueue(piece);
  };
  return body.pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      transform(chunk, controller) {
        lines.push(chunk);
        flushTo(controller);
      },
      flush(controller) {
        lines.end();
        flushTo(controller);
      },
    }),
  );
}

async function readJsonBody(body: ReadableStream<Uint8Array>, maxBytes: number, onOversized: OversizedListener, request: unknown): Promise<string> {
  let whole: BoundedLine | undefined;
  const reader = new BoundedLines(maxBytes, (line) => void (whole = line), true);
  for await (const chunk of body) reader.push(chunk);
  reader.end();
  if (!whole) return "";
  if ("text" in whole) return whole.text;
  const message = cutMessage(whole.head, whole.tail, whole.bytes, maxBytes) ?? errorFor(request, whole.bytes, maxBytes);
  onOversized(whole.bytes, message !== undefined);
  return message ? JSON.stringify(message) : "";
}

/** An error answer for the request that was posted, when the long answer's own id could not be found. */
function errorFor(request: unknown, bytes: number, maxBytes: number): JSONRPCMessage | undefined {
  if (typeof request !== "string") return undefined;
  try {
    const id = (JSON.parse(request) as { id?: unknown }).id;
    return typeof id === "string" || typeof id === "number" ? tooLong(id, bytes, maxBytes) : undefined;
  } catch {
    return undefined;
  }
}
