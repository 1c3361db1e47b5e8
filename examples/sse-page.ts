#!/usr/bin/env bun
// Serves examples/sse-page.html, a page that follows a channel or a thread with EventSource, and
// passes its event streams through to agentwire, so that page and streams share one origin
// (agentwire sends no CORS headers; behind nginx the same location block would do it).
//
//   bun run examples/sse-page.ts
//   open "http://localhost:3000/?token=$(bun run src/index.ts token --sub dev)&channel=user:dev"
//
// AGENTWIRE_HTTP is agentwire's address (default http://localhost:8080); PORT defaults to 3000.

const upstream = process.env.AGENTWIRE_HTTP ?? "http://localhost:8080";
const files: Record<string, { file: string; type: string }> = {
  "/": { file: "sse-page.html", type: "text/html; charset=utf-8" },
  "/sse-page.js": { file: "sse-page.js", type: "text/javascript; charset=utf-8" },
};
const eventStream = /^\/(channels|threads)\/[^/]+\/events$/;

/**
 * The upstream body, ended rather than failed when agentwire's side breaks: the browser reconnects
 * either way (an event cut in the middle is dropped and comes again after the resume), without an error
 * logged for every dropped link.
 */
function endsCleanly(body: ReadableStream<Uint8Array>): ReadableStream<Uint8Array> {
  const reader = body.getReader();
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      try {
        const { done, value } = await reader.read();
        if (done) controller.close();
        else controller.enqueue(value);
      } catch {
        controller.close();
      }
    },
    cancel: (reason) => reader.cancel(reason),
  });
}

const server = Bun.serve({
  port: Number(process.env.PORT ?? 3000),
  hostname: process.env.HOST ?? "127.0.0.1",
  // A stream is quiet between events (the server pings every 15 s): no idle limit.
  idleTimeout: 0,
  async fetch(request) {
    const url = new URL(request.url);
    const file = files[url.pathname];
    if (file) return new Response(Bun.file(new URL(file.file, import.meta.url)), { headers: { "content-type": file.type } });
    if (request.method !== "GET" || !eventStream.test(url.pathname)) return new Response("not found", { status: 404 });
    // Last-Event-ID is what makes a reconnect resume; the browser going away ends the upstream stream.
    const headers: Record<string, string> = { accept: "text/event-stream" };
    const lastEventId = request.headers.get("last-event-id");
    if (lastEventId) headers["last-event-id"] = lastEventId;
    const response = await fetch(`${upstream}${url.pathname}${url.search}`, { headers, signal: request.signal }).catch(() => undefined);
    // agentwire out of reach: an empty stream, which EventSource sees end and tries again after its delay
    // (an error status would make it give up for good).
    if (!response?.body) return new Response("", { headers: { "content-type": "text/event-stream" } });
    return new Response(endsCleanly(response.body), {
      status: response.status,
      headers: { "content-type": response.headers.get("content-type") ?? "text/plain", "cache-control": "no-cache" },
    });
  },
});

console.log(`sse page on http://${server.hostname}:${server.port}/?token=...&channel=... (streams from ${upstream})`);
