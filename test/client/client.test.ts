// The client's connection: state machine, publish/subscribe, requests, tokens, heartbeats and the offline queue.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { AgentwireClient, AgentwireError, type AgentwireClientOptions, type ClientState, type Publication } from "../../src/client/index.ts";
import { SocketControl } from "../helpers/controlled-websocket.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { settledNow } from "../helpers/settled-now.ts";
import { afterTimersDue } from "../helpers/timers-due.ts";
import { waitFor } from "../helpers/wait.ts";
import { connectAs } from "../helpers/ws-client.ts";

let server: TestServer;
const clients: AgentwireClient[] = [];
beforeAll(async () => {
  server = await startTestServer();
});
afterAll(async () => {
  for (const client of clients) client.close();
  await server.stop();
});

const MAX_RECONNECT_DELAY_MS = 50;

function newClient(options: Partial<AgentwireClientOptions>): AgentwireClient {
  const client = new AgentwireClient({ url: server.wsUrl, minReconnectDelayMs: 10, maxReconnectDelayMs: MAX_RECONNECT_DELAY_MS, ...options });
  clients.push(client);
  return client;
}

async function connected(client: AgentwireClient): Promise<AgentwireClient> {
  client.connect();
  await waitFor(() => client.state === "connected", "the client to connect");
  return client;
}

const userClient = async (sub: string, options: Partial<AgentwireClientOptions> = {}) =>
  connected(newClient({ token: await server.token({ sub }), ...options }));

describe("connecting", () => {
  test("goes disconnected -> connecting -> connected, with the server's connected payload, token in the first frame", async () => {
    const control = new SocketControl();
    const client = newClient({ token: await server.token({ sub: "ann" }), WebSocket: control.WebSocket });
    const states: ClientState[] = [];
    client.on("state", ({ state }) => states.push(state));
    const payload = new Promise((resolve) => client.on("connected", resolve));
    expect(client.state).toBe("disconnected");
    client.connect();
    expect(await payload).toMatchObject({ type: "connected", user_id: "ann" });
    expect(states).toEqual(["connecting", "connected"]);
    expect(client.connection?.user_id).toBe("ann");
    expect(control.current!.url).toBe(server.wsUrl);
    expect(JSON.parse(control.current!.sent[0]!)).toEqual({ channel: "auth", payload: { token: expect.any(String) } });
    client.disconnect();
    expect(client.state).toBe("disconnected");
    expect(states.at(-1)).toBe("disconnected");
  });

  test("disconnect() stops reconnecting; close() is final", async () => {
    const control = new SocketControl();
    const client = await userClient("ann", { WebSocket: control.WebSocket });
    const closes: { code: number; reconnecting: boolean }[] = [];
    client.on("disconnected", ({ code, reconnecting }) => closes.push({ code, reconnecting }));
    client.disconnect();
    expect(closes).toEqual([{ code: 1000, reconnecting: false }]);
    // Any reconnect would have been due by now, however slow the machine.
    await afterTimersDue(MAX_RECONNECT_DELAY_MS);
    expect(client.state).toBe("disconnected");
    expect(control.sockets).toHaveLength(1);
    client.close();
    expect(client.state).toBe("closed");
    expect(() => client.connect()).toThrow(AgentwireError);
    await expect(client.publish("user:ann", { n: 1 })).rejects.toMatchObject({ code: "client_closed" });
  });
});

describe("publish and subscribe", () => {
  test("round trip: the subscriber sees the payload with its seq; the publisher gets the seq back", async () => {
    const subscriber = await userClient("bob");
    const publisher = await userClient("bob");
    const seen: Publication[] = [];
    const subscription = subscriber.subscribe("user:bob:inbox", (publication) => seen.push(publication));
    await waitFor(() => subscription.state === "subscribed", "the subscription");
    expect(subscription.lastSeq).toBe(0);
    expect(typeof subscription.epoch).toBe("string");
    expect(await publisher.publish("user:bob:inbox", { text: "hi" })).toEqual({ seq: 1 });
    expect(await publisher.publish("user:bob:inbox", { text: "again" })).toEqual({ seq: 2 });
    await waitFor(() => seen.length === 2, "two publications");
    expect(seen).toEqual([
      { channel: "user:bob:inbox", seq: 1, payload: { text: "hi" } },
      { channel: "user:bob:inbox", seq: 2, payload: { text: "again" } },
    ]);
    expect(subscription.lastSeq).toBe(2);
    subscription.unsubscribe();
    expect(subscription.state).toBe("unsubscribed");
    expect(subscriber.getSubscription("user:bob:inbox")).toBeUndefined();
    await publisher.publish("user:bob:inbox", { text: "not seen" });
    await subscriber.request("system", { type: "ping" });
    expect(seen).toHaveLength(2);
  });

  test("a refused subscription ends with the server's code; a second subscribe on a channel throws", async () => {
    const client = await userClient("carl");
    const errors: AgentwireError[] = [];
    const subscription = client.subscribe("user:someone-else", () => {});
    subscription.on("error", (error) => errors.push(error));
    await waitFor(() => subscription.state === "unsubscribed", "the refusal");
    expect(errors[0]).toMatchObject({ code: "forbidden" });
    client.subscribe("user:carl", () => {});
    expect(() => client.subscribe("user:carl", () => {})).toThrow(expect.objectContaining({ code: "already_subscribed" }));
    expect(() => client.subscribe("chat", () => {})).toThrow(expect.objectContaining({ code: "forbidden" }));
  });

  test("an error reply rejects with the server's code", async () => {
    const client = await userClient("dora");
    await expect(client.publish("user:someone-else", { n: 1 })).rejects.toMatchObject({ code: "forbidden" });
    await expect(client.request("chat", { action: "stop", message_id: "missing" })).rejects.toMatchObject({ code: "not_found" });
    expect(await client.request("system", { type: "ping" })).toMatchObject({ type: "pong" });
  });
});

describe("requests", () => {
  test("a request without a reply rejects with timeout after its own timeout; the connection goes on", async () => {
    const control = new SocketControl();
    const client = await userClient("eve", { WebSocket: control.WebSocket, requestTimeoutMs: 300 });
    control.dropOutgoing = (text) => text.includes("black-hole");
    // Each gave up by its own timer, whose length the message names.
    await expect(client.publish("user:eve", { "black-hole": 1 }, { timeoutMs: 100 })).rejects.toMatchObject({
      code: "timeout",
      message: "no reply to user:eve request within 100 ms",
    });
    // The default timeout is requestTimeoutMs.
    await expect(client.request("user:eve", { "black-hole": 2 })).rejects.toMatchObject({
      code: "timeout",
      message: "no reply to user:eve request within 300 ms",
    });
    expect(await client.publish("user:eve", { fine: true })).toEqual({ seq: 1 });
    expect(client.state).toBe("connected");
    expect(control.sockets).toHaveLength(1);
  });

  test("a request whose connection drops before the reply rejects with disconnected", async () => {
    const control = new SocketControl();
    const client = await userClient("eve", { WebSocket: control.WebSocket });
    control.dropOutgoing = (text) => text.includes("lost");
    const pending = client.publish("user:eve", { lost: true });
    control.cut();
    await expect(pending).rejects.toMatchObject({ code: "disconnected" });
    control.dropOutgoing = undefined;
    await waitFor(() => client.state === "connected", "the reconnect");
  });
});

describe("tokens", () => {
  test("the token goes in the auth frame; getToken is called on every connect and again after a refusal", async () => {
    const tokens = ["not-a-valid-token", await server.token({ sub: "fay" }), await server.token({ sub: "fay" })];
    let calls = 0;
    const client = newClient({ getToken: async () => tokens[Math.min(calls++, tokens.length - 1)]! });
    const closes: number[] = [];
    client.on("disconnected", ({ code }) => closes.push(code));
    await connected(client);
    expect(calls).toBe(2);
    expect(closes).toEqual([1008]);
    expect(client.connection?.user_id).toBe("fay");
    await expect(client.publish("user:fay", { ok: 1 })).resolves.toEqual({ seq: expect.any(Number) });
  });

  test("a refused static token stops reconnecting until setToken() gives a new one", async () => {
    const control = new SocketControl();
    const client = newClient({ token: "not-a-valid-token", WebSocket: control.WebSocket });
    const errors: AgentwireError[] = [];
    client.on("error", (error) => errors.push(error));
    client.connect();
    await waitFor(() => errors.some((error) => error.code === "token_refused"), "the refusal");
    expect(client.state).toBe("disconnected");
    // Any reconnect would have been due by now, however slow the machine.
    await afterTimersDue(MAX_RECONNECT_DELAY_MS);
    expect(control.sockets).toHaveLength(1);
    expect(client.state).toBe("disconnected");
    // Frames wait for the next connection meanwhile.
    const queued = client.publish("user:gus", { after: "setToken" });
    client.setToken(await server.token({ sub: "gus" }));
    await waitFor(() => client.state === "connected", "the reconnect with the new token");
    expect(control.sockets).toHaveLength(2);
    expect(await queued).toEqual({ seq: 1 });
  });

  test("a token with exp is refreshed over the open connection shortly before it expires", async () => {
    const control = new SocketControl();
    let calls = 0;
    const client = newClient({
      WebSocket: control.WebSocket,
      getToken: async () => {
        calls++;
        return server.token({ sub: "hal" }, 3);
      },
    });
    const closes: number[] = [];
    client.on("disconnected", ({ code }) => closes.push(code));
    await connected(client);
    const session = server.app.gateway.connection(client.connection!.connection_id)!;
    const firstExpiresAt = session.expiresAt;
    // A witness with the same lifetime, its token signed after the client's first one: the server closing it
    // for expiry shows the server's clock went past the client's first token too.
    const witness = await connectAs(server.wsUrl, await server.token({ sub: "hal" }, 3));
    await waitFor(() => session.expiresAt > firstExpiresAt, "the server to take a refreshed token");
    expect(await witness.closed).toEqual({ code: 1008, reason: "token expired" });
    // Past the first token's expiry: still the one socket, never closed, refreshed by auth frames.
    expect(await client.publish("user:hal", { still: "here" })).toEqual({ seq: 1 });
    expect(closes).toEqual([]);
    expect(control.sockets).toHaveLength(1);
    expect(client.state).toBe("connected");
    expect(calls).toBeGreaterThanOrEqual(2);
    const authFrames = () => control.current!.sent.map((text) => JSON.parse(text)).filter((frame) => frame.channel === "auth");
    // Every token getToken gave went out as an auth frame (one may be on its way).
    await waitFor(() => authFrames().length === calls, "each token from getToken to be sent");
    expect(authFrames()[0].id).toBeUndefined();
    for (const refresh of authFrames().slice(1)) expect(refresh.id).toEqual(expect.any(String));
  }, 15_000);
});

describe("server closes", () => {
  test("1013 (slow consumer) reconnects promptly and the subscription resumes without a loss", async () => {
    const publisher = await userClient("lou");
    const control = new SocketControl();
    const minReconnectDelayMs = 20;
    const client = await userClient("lou", { WebSocket: control.WebSocket, minReconnectDelayMs, maxReconnectDelayMs: 5_000 });
    const seen: number[] = [];
    const subscription = client.subscribe("user:lou:feed", (publication) => seen.push(publication.payload.n as number));
    await waitFor(() => subscription.state === "subscribed", "the subscription");
    await publisher.publish("user:lou:feed", { n: 1 });
    await waitFor(() => seen.length === 1, "the first publication");
    const closes: { code: number; reconnecting: boolean }[] = [];
    client.on("disconnected", ({ code, reconnecting }) => closes.push({ code, reconnecting }));
    server.app.gateway.connection(client.connection!.connection_id)!.close(1013, "slow consumer");
    await publisher.publish("user:lou:feed", { n: 2 });
    await waitFor(() => closes.length === 1, "the close");
    // Promptly: the new socket opens within the shortest backoff, not the 5 s the backoff could reach.
    await afterTimersDue(minReconnectDelayMs);
    expect(control.sockets).toHaveLength(2);
    await waitFor(() => client.state === "connected", "the reconnect");
    expect(closes).toEqual([{ code: 1013, reconnecting: true }]);
    await publisher.publish("user:lou:feed", { n: 3 });
    await waitFor(() => seen.length === 3, "every publication");
    expect(seen).toEqual([1, 2, 3]);
  });

  test("a static token that expires: the server closes with 1008 token expired and the client stops", async () => {
    // Two seconds (exp is whole seconds): at least one left when it is used.
    const expiring = newClient({ token: await server.token({ sub: "max" }, 2) });
    const errors: string[] = [];
    expiring.on("error", (error) => errors.push(error.code));
    const closes: string[] = [];
    expiring.on("disconnected", ({ code, reason }) => closes.push(`${code} ${reason}`));
    await connected(expiring);
    await waitFor(() => expiring.state === "disconnected", "the expiry");
    expect(closes).toEqual(["1008 token expired"]);
    expect(errors).toEqual(["token_refused"]);
  });
});

describe("heartbeat", () => {
  test("no pong within the timeout counts as a dead link: close and reconnect", async () => {
    const control = new SocketControl();
    const client = await userClient("ida", { WebSocket: control.WebSocket, heartbeatIntervalMs: 30, heartbeatTimeoutMs: 300 });
    const closes: { code: number; reason: string }[] = [];
    client.on("disconnected", ({ code, reason }) => closes.push({ code, reason }));
    await waitFor(() => control.current!.sent.filter((text) => text.includes('"ping"')).length >= 3, "a few answered pings");
    expect(closes).toEqual([]);
    control.dropOutgoing = (text) => text.includes('"ping"');
    await waitFor(() => closes.length > 0, "the heartbeat to fail");
    expect(closes[0]).toEqual({ code: 4001, reason: "heartbeat timeout" });
    control.dropOutgoing = undefined;
    await waitFor(() => client.state === "connected" && control.sockets.length >= 2, "the reconnect");
  });
});

describe("offline queue", () => {
  test("up to maxOfflineQueue publishes wait for the connection and are sent in order; the next one fails at once", async () => {
    const subscriber = await userClient("jan");
    const seen: Publication[] = [];
    const subscription = subscriber.subscribe("user:jan:queue", (publication) => seen.push(publication));
    await waitFor(() => subscription.state === "subscribed", "the subscription");
    const client = await userClient("jan", { maxOfflineQueue: 5 });
    client.disconnect();
    const queued = [1, 2, 3, 4, 5].map((n) => client.publish("user:jan:queue", { n }));
    expect(client.queuedRequests).toBe(5);
    // At once: rejected within this turn of the event loop, with no timer or connection involved.
    expect(await settledNow(client.publish("user:jan:queue", { n: 6 }))).toMatchObject({ status: "rejected", reason: { code: "offline_queue_full" } });
    expect(client.queuedRequests).toBe(5);
    client.connect();
    expect(await Promise.all(queued)).toEqual([1, 2, 3, 4, 5].map((seq) => ({ seq })));
    await waitFor(() => seen.length === 5, "the subscriber to see them");
    expect(seen.map((publication) => publication.payload.n)).toEqual([1, 2, 3, 4, 5]);
  });

  test("a queued request still times out, and leaves the queue", async () => {
    const client = await userClient("kim", { maxOfflineQueue: 1 });
    client.disconnect();
    await expect(client.publish("user:kim", { n: 1 }, { timeoutMs: 50 })).rejects.toMatchObject({ code: "timeout" });
    expect(client.queuedRequests).toBe(0);
    const next = client.publish("user:kim", { n: 2 });
    client.connect();
    expect(await next).toEqual({ seq: 1 });
  });
});
