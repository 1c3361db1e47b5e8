#!/usr/bin/env bun
// Serves examples/ai-sdk-react/ (index.html and App.tsx bundled with Bun.build) and passes the AI SDK
// transport's requests through to agentwire, so that page and API share one origin (agentwire sends
// no CORS headers; behind nginx a location block would do the same).
//
//   bun run examples/ai-sdk-react/server.ts
//   open "http://localhost:3000/?token=$(bun run src/index.ts token --sub dev)"
//
// AGENTWIRE_HTTP is agentwire's address (default http://localhost:8080); PORT defaults to 3000.

const upstream = process.env.AGENTWIRE_HTTP ?? "http://localhost:8080";

const build = await Bun.build({
  entrypoints: [new URL("main.tsx", import.meta.url).pathname],
  minify: true,
  define: { "process.env.NODE_ENV": JSON.stringify("production") },
});
if (!build.success) throw new AggregateError(build.logs, "bundling examples/ai-sdk-react/main.tsx failed");
const script = await build.outputs[0]!.text();

// What the page calls: the AI SDK transport (send, resume) and agentwire's REST (stored messages, stop).
const passedThrough = /^\/(ai-sdk\/chat(\/[^/]+\/stream)?|threads\/[^/]+\/(messages|stop))$/;

const server = Bun.serve({
  port: Number(process.env.PORT ?? 3000),
  hostname: process.env.HOST ?? "127.0.0.1",
  // An answer's stream is quiet between events: no idle limit.
  idleTimeout: 0,
  async fetch(request) {
    const url = new URL(request.url);
    if (url.pathname === "/") return new Response(Bun.file(new URL("index.html", import.meta.url)), { headers: { "content-type": "text/html; charset=utf-8" } });
    if (url.pathname === "/main.js") return new Response(script, { headers: { "content-type": "text/javascript; charset=utf-8" } });
    if (!passedThrough.test(url.pathname)) return new Response("not found", { status: 404 });
    const headers = new Headers();
    for (const name of ["authorization", "content-type", "accept"]) {
      const value = request.headers.get(name);
      if (value) headers.set(name, value);
    }
    // The page going away (a reload) ends the upstream stream too; the run goes on.
    const response = await fetch(`${upstream}${url.pathname}${url.search}`, {
      method: request.method,
      headers,
      body: request.method === "POST" ? await request.arrayBuffer() : undefined,
      signal: request.signal,
    }).catch(() => undefined);
    if (!response) return new Response("agentwire is out of reach", { status: 502 });
    const passed = new Headers({ "cache-control": "no-cache" });
    for (const name of ["content-type", "x-vercel-ai-ui-message-stream"]) {
      const value = response.headers.get(name);
      if (value) passed.set(name, value);
    }
    return new Response(response.body, { status: response.status, headers: passed });
  },
});

console.log(`ai-sdk-react page on http://${server.hostname}:${server.port}/?token=... (agentwire at ${upstream})`);
