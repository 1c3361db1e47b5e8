// The limits of docs/protocol.md section 8: frame size, rate, subscriptions, slow consumers, pings and idle close.

import { afterEach, describe, expect, setSystemTime, test } from "bun:test";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { RawSocket } from "../helpers/raw-socket.ts";
import { waitFor } from "../helpers/wait.ts";
import { TestClient, connectAs } from "../helpers/ws-client.ts";

let server: TestServer | undefined;
afterEach(async () => {
  await server?.stop();
  server = undefined;
});

async function rawAuthenticated(target: TestServer, sub: string): Promise<RawSocket> {
  const raw = await RawSocket.open(target.app.port, `/ws?token=${await target.token({ sub })}`);
  await raw.until(() => raw.frames.some((frame) => frame.opcode === 1 && frame.payload.toString().includes('"connected"')));
  return raw;
}

test("a frame over MAX_FRAME_BYTES closes with 1009", async () => {
  server = await startTestServer({ MAX_FRAME_BYTES: "4096" });
  const client = await connectAs(server.wsUrl, await server.token({ sub: "al" }));
  await client.publish("user:al", { fits: "x".repeat(3000) });
  client.send({ channel: "user:al", payload: { big: "x".repeat(5000) } });
  expect((await client.closed).code).toBe(1009);
});

describe("rate limit", () => {
  test("drops frames over the bucket, warns at most once a second, and closes 1008 on sustained abuse", async () => {
    server = await startTestServer({ RATE_LIMIT_PER_S: "20", RATE_LIMIT_BURST: "10", RATE_LIMIT_CLOSE_AFTER_S: "1" });
    const client = await connectAs(server.wsUrl, await server.token({ sub: "al" }));
    const framesIn = server.app.gateway.metrics.framesIn;
    // The clock stands still during the burst (the server runs in this process), so the bucket cannot
    // refill however long the 40 frames take to arrive: exactly the burst is answered.
    setSystemTime(new Date());
    try {
      for (let i = 0; i < 40; i++) client.send({ channel: "system", id: `p${i}`, payload: { type: "ping" } });
      await waitFor(() => framesIn.get() === 40, "the server to receive the 40 pings");
    } finally {
      setSystemTime();
    }
    const warning = await client.next((frame) => frame.channel === "error");
    expect(warning.payload.code).toBe("rate_limited");
    expect(warning.id).toBeUndefined();
    // Pongs are sent as their pings are handled, so the answered ones all came before the warning.
    const pongs = client.drain((frame) => frame.payload.type === "pong");
    expect(pongs.map((pong) => pong.id)).toEqual(Array.from({ length: 10 }, (_, i) => `p${i}`));
    expect(client.pending((frame) => frame.channel === "error")).toEqual([]);
    // Keep sending at ~100 frames/s, five times the allowed rate: the server gives up after a second.
    const abuse = setInterval(() => client.socket.readyState === WebSocket.OPEN && client.send({ channel: "system", payload: { type: "ping" } }), 10);
    const closed = await client.closed;
    clearInterval(abuse);
    expect(closed).toEqual({ code: 1008, reason: "rate limit exceeded" });
    const metrics = await (await fetch(`${server.httpUrl}/metrics`)).text();
    expect(metrics).toContain('agentwire_closes_total{reason="rate limit exceeded"} 1');
  });

  test("a client within the rate is never limited", async () => {
    server = await startTestServer({ RATE_LIMIT_PER_S: "1000", RATE_LIMIT_BURST: "50" });
    const client = await connectAs(server.wsUrl, await server.token({ sub: "al" }));
    for (let i = 0; i < 45; i++) client.send({ channel: "system", payload: { type: "ping" } });
    await client.barrier();
    expect(client.pending((frame) => frame.channel === "error")).toEqual([]);
    client.close();
  });
});

test("subscriptions over MAX_SUBSCRIPTIONS get too_many_subscriptions; repeats and freed slots do not count", async () => {
  server = await startTestServer({ MAX_SUBSCRIPTIONS: "2" });
  const client = await connectAs(server.wsUrl, await server.token({ sub: "al" }));
  await client.subscribe("user:al:1");
  await client.subscribe("user:al:2");
  expect((await client.subscribe("user:al:2")).payload.status).toBe("subscribed");
  const refused = await client.subscribe("user:al:3");
  expect(refused.channel).toBe("error");
  expect(refused.payload.code).toBe("too_many_subscriptions");
  await client.request("subscription", { action: "unsubscribe", channel: "user:al:1" });
  expect((await client.subscribe("user:al:3")).payload.status).toBe("subscribed");
  client.close();
});

test("a consumer that stops reading is closed with 1013 and its queue is released", async () => {
  server = await startTestServer({ MAX_QUEUED_BYTES: "65536", RATE_LIMIT_PER_S: "100000", RATE_LIMIT_BURST: "100000" });
  const slow = await rawAuthenticated(server, "al");
  slow.sendText(JSON.stringify({ channel: "subscription", id: "s", payload: { action: "subscribe", channel: "user:al:firehose" } }));
  await slow.until(() => slow.frames.some((frame) => frame.payload.toString().includes('"subscribed"')));
  slow.pause();
  const fast = await connectAs(server.wsUrl, await server.token({ sub: "al" }));
  await fast.subscribe("user:al:firehose");
  const chunk = "x".repeat(16 * 1024);
  let published = 0;
  while (server.app.gateway.connectionCount === 2 && published < 20_000) {
    fast.send({ channel: "user:al:firehose", payload: { chunk, n: published++ } });
    if (published % 50 === 0) await fast.barrier();
  }
  expect(server.app.gateway.connectionCount).toBe(1);
  // The reading subscriber was not affected.
  await fast.barrier();
  expect(fast.closeInfo).toBeUndefined();
  slow.socket.resume();
  await slow.until(() => slow.closeCode() !== undefined, 10_000);
  expect(slow.closeCode()).toBe(1013);
  const metrics = await (await fetch(`${server.httpUrl}/metrics`)).text();
  expect(metrics).toContain('agentwire_closes_total{reason="slow consumer"} 1');
  fast.close();
  slow.destroy();
});

describe("server pings and idle close", () => {
  test("a client that answers pings stays; one that never answers is closed after IDLE_TIMEOUT_S", async () => {
    server = await startTestServer({ PING_INTERVAL_S: "0.1", IDLE_TIMEOUT_S: "0.5" });
    const live = await connectAs(server.wsUrl, await server.token({ sub: "al" }));
    const dead = await rawAuthenticated(server, "al");
    await dead.until(() => dead.frames.filter((frame) => frame.opcode === 0x9).length >= 2);
    await dead.until(() => dead.closeCode() !== undefined, 3000);
    expect(dead.closeCode()).toBe(1001);
    // The browser-style client answered every ping with a pong, so it is still connected.
    await live.barrier();
    expect(live.closeInfo).toBeUndefined();
    live.close();
    dead.destroy();
  });

  test("application ping is answered with pong and server_time", async () => {
    server = await startTestServer();
    const client = await connectAs(server.wsUrl, await server.token({ sub: "al" }));
    const pong = await client.request("system", { type: "ping" });
    expect(pong.channel).toBe("system");
    expect(pong.payload.type).toBe("pong");
    expect(Math.abs(pong.payload.server_time - Date.now() / 1000)).toBeLessThan(5);
    client.close();
  });
});
