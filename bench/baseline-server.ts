// Reference server for the benchmarks: raw Bun.serve pub/sub speaking agentwire's envelope, with no auth and no checks.

import type { ServerWebSocket } from "bun";

interface Envelope {
  channel?: unknown;
  id?: unknown;
  payload?: Record<string, unknown>;
}

const port = Number(process.env.PORT ?? 0);
const hostname = process.env.HOST ?? "127.0.0.1";
// The same socket limits as agentwire's defaults (src/app.ts), so only agentwire's own layers differ;
// BASELINE_SETTINGS=default leaves Bun's own defaults instead (the capacity scenario's runtime reference).
const maxFrameBytes = 1024 * 1024;
const maxQueuedBytes = 4 * 1024 * 1024;
const agentwireSettings = {
  maxPayloadLength: maxFrameBytes,
  backpressureLimit: maxQueuedBytes + 2 * maxFrameBytes + 64 * 1024,
  closeOnBackpressureLimit: true,
  idleTimeout: 0,
  sendPings: false,
  perMessageDeflate: false,
};
const socketSettings = process.env.BASELINE_SETTINGS === "default" ? {} : agentwireSettings;

const sequences = new Map<string, number>();

function reply(socket: ServerWebSocket<undefined>, channel: string, id: unknown, payload: Record<string, unknown>): void {
  socket.sendText(JSON.stringify(id === undefined ? { channel, payload } : { channel, id, payload }));
}

function onFrame(socket: ServerWebSocket<undefined>, text: string): void {
  let envelope: Envelope;
  try {
    envelope = JSON.parse(text) as Envelope;
  } catch {
    return reply(socket, "error", undefined, { code: "invalid_json", message: "frame is not valid JSON" });
  }
  const { channel, id, payload } = envelope;
  if (typeof channel !== "string" || typeof payload !== "object" || payload === null) {
    return reply(socket, "error", id, { code: "invalid_message", message: "frame does not match the protocol" });
  }
  if (channel === "subscription") {
    const target = String(payload.channel);
    if (payload.action === "unsubscribe") {
      socket.unsubscribe(target);
      return reply(socket, "subscription", id, { status: "unsubscribed", channel: target });
    }
    socket.subscribe(target);
    return reply(socket, "subscription", id, { status: "subscribed", channel: target, seq: sequences.get(target) ?? 0, epoch: "baseline" });
  }
  if (channel === "system") return reply(socket, "system", id, { type: "pong", server_time: Date.now() / 1000 });
  const seq = (sequences.get(channel) ?? 0) + 1;
  sequences.set(channel, seq);
  // ServerWebSocket.publish leaves the publishing socket out, as agentwire does.
  socket.publishText(channel, JSON.stringify({ channel, seq, payload }));
}

const server = Bun.serve({
  port,
  hostname,
  fetch(request, server) {
    if (new URL(request.url).pathname === "/ws" && server.upgrade(request, { data: undefined })) return undefined;
    return new Response("not found", { status: 404 });
  },
  websocket: {
    ...socketSettings,
    open(socket) {
      reply(socket, "system", undefined, {
        type: "connected",
        connection_id: crypto.randomUUID(),
        user_id: "baseline",
        server_time: Date.now() / 1000,
      });
    },
    message(socket, message) {
      onFrame(socket, typeof message === "string" ? message : message.toString());
    },
  },
});

console.log(JSON.stringify({ msg: "listening", port: server.port }));

for (const signal of ["SIGTERM", "SIGINT"] as const) {
  process.once(signal, () => {
    server.stop(true);
    process.exit(0);
  });
}
