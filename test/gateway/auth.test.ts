// Authentication in all three places, every refusal, expiry and refresh (docs/protocol.md section 3).

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { createTokenService } from "../../src/auth/tokens.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { TestClient, connectAs } from "../helpers/ws-client.ts";

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer({ AUTH_TIMEOUT_S: "0.3" });
});
afterAll(() => server.stop());

const isConnected = (frame: { channel: string; payload: Record<string, unknown> }) =>
  frame.channel === "system" && frame.payload.type === "connected";

async function upgradeStatus(url: string, headers: Record<string, string> = {}): Promise<number> {
  const response = await fetch(url, {
    headers: {
      upgrade: "websocket",
      connection: "Upgrade",
      "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==",
      "sec-websocket-version": "13",
      ...headers,
    },
  });
  await response.arrayBuffer();
  return response.status;
}

describe("token in the Authorization header", () => {
  test("is accepted and answered with connected", async () => {
    const token = await server.token({ sub: "alice" });
    const client = await TestClient.connect(server.wsUrl, { headers: { authorization: `Bearer ${token}` } });
    const connected = await client.next(isConnected);
    expect(connected.payload.user_id).toBe("alice");
    expect(connected.payload.connection_id).toMatch(/^[0-9a-f-]{36}$/);
    expect(typeof connected.payload.server_time).toBe("number");
    client.close();
  });

  test("a bad token gets 401 and no upgrade", async () => {
    expect(await upgradeStatus(server.wsUrl.replace("ws:", "http:"), { authorization: "Bearer nope" })).toBe(401);
  });
});

describe("token in the query string", () => {
  test("is accepted: connected as the token's user, who can then subscribe", async () => {
    const token = await server.token({ sub: "bob" });
    const client = await TestClient.connect(`${server.wsUrl}?token=${encodeURIComponent(token)}`);
    const connected = await client.next(isConnected);
    expect(connected.payload.user_id).toBe("bob");
    expect((await client.subscribe("user:bob")).payload).toMatchObject({ status: "subscribed", channel: "user:bob" });
    expect((await client.subscribe("user:alice")).payload.code).toBe("forbidden");
    client.close();
  });

  test("bad, expired, wrongly signed or malformed tokens get 401", async () => {
    const http = server.wsUrl.replace("ws:", "http:");
    const other = await createTokenService("another-secret-0123456789").sign({ sub: "alice" }, 60);
    const expired = await server.token({ sub: "alice" }, -10);
    const colon = await server.token({ sub: "al:ice" });
    for (const token of ["garbage", other, expired, colon]) {
      expect(await upgradeStatus(`${http}?token=${token}`)).toBe(401);
    }
  });

  test("the token never reaches the log", async () => {
    const token = await server.token({ sub: "carol" });
    const client = await connectAs(server.wsUrl, token);
    client.close();
    await client.closed;
    expect(JSON.stringify(server.logs)).not.toContain(token);
  });
});

describe("token in the first frame", () => {
  test("authenticates and echoes the id", async () => {
    const client = await TestClient.connect(server.wsUrl);
    client.send({ channel: "auth", id: "a1", payload: { token: await server.token({ sub: "dave" }) } });
    const connected = await client.next(isConnected);
    expect(connected.id).toBe("a1");
    expect(connected.payload.user_id).toBe("dave");
    client.close();
  });

  test("a bad token closes with 1008", async () => {
    const client = await TestClient.connect(server.wsUrl);
    client.send({ channel: "auth", payload: { token: "bad" } });
    expect((await client.closed).code).toBe(1008);
  });

  test("no token within the auth timeout closes with 1008", async () => {
    const client = await TestClient.connect(server.wsUrl);
    const closed = await client.closed;
    expect(closed.code).toBe(1008);
    expect(closed.reason).toContain("authentication");
  });

  test("any other frame before authentication closes with 1008", async () => {
    for (const frame of [
      JSON.stringify({ channel: "system", payload: { type: "ping" } }),
      "not json",
      JSON.stringify({ channel: "subscription", payload: { action: "subscribe", channel: "user:x" } }),
    ]) {
      const client = await TestClient.connect(server.wsUrl);
      client.send(frame);
      expect((await client.closed).code).toBe(1008);
    }
    const binary = await TestClient.connect(server.wsUrl);
    binary.socket.send(new Uint8Array([1, 2, 3]));
    expect((await binary.closed).code).toBe(1008);
  });
});

describe("expiry and refresh", () => {
  test("a token that expires while connected closes with 1008 'token expired'", async () => {
    // Two seconds: exp is whole seconds, so a one-second token minted late in a second may be expired on arrival.
    const client = await connectAs(server.wsUrl, await server.token({ sub: "erin" }, 2));
    const closed = await client.closed;
    expect(closed).toEqual({ code: 1008, reason: "token expired" });
  });

  test("a fresh auth frame before expiry keeps the connection open", async () => {
    // Two seconds (exp is whole seconds): at least one left for the refresh.
    const client = await connectAs(server.wsUrl, await server.token({ sub: "erin" }, 2));
    // Signed after the client's first token, so it expires no sooner: once the server closes it, its clock is
    // past the first token's expiry too, and the same sweep of connections looked at the refreshed one.
    const witness = await connectAs(server.wsUrl, await server.token({ sub: "erin" }, 2));
    const refreshed = await client.request("auth", { token: await server.token({ sub: "erin" }, 3600) });
    expect(refreshed.payload.type).toBe("connected");
    expect(await witness.closed).toEqual({ code: 1008, reason: "token expired" });
    // Past the first token's expiry: the connection must still answer.
    await client.barrier();
    expect(client.closeInfo).toBeUndefined();
    client.close();
  });

  test("refresh naming another sub closes with 1008", async () => {
    const client = await connectAs(server.wsUrl, await server.token({ sub: "frank" }));
    client.send({ channel: "auth", payload: { token: await server.token({ sub: "grace" }) } });
    expect((await client.closed).code).toBe(1008);
  });

  test("refresh ends subscriptions the new claims no longer allow", async () => {
    const client = await connectAs(server.wsUrl, await server.token({ sub: "heidi", subscribe: ["news:*"] }));
    expect((await client.subscribe("news:a")).payload.status).toBe("subscribed");
    expect((await client.subscribe("user:heidi:inbox")).payload.status).toBe("subscribed");
    const refreshed = await client.request("auth", { token: await server.token({ sub: "heidi" }) });
    expect(refreshed.payload.type).toBe("connected");
    const ended = await client.next((frame) => frame.channel === "subscription" && frame.payload.status === "unsubscribed");
    expect(ended.payload).toEqual({ status: "unsubscribed", channel: "news:a", reason: "forbidden" });
    await client.barrier();
    expect(client.pending((frame) => frame.channel === "subscription")).toEqual([]);
    // The revoked channel no longer delivers; the namespace channel still does.
    const publisher = await connectAs(server.wsUrl, await server.token({ sub: "heidi", publish: ["news:*"] }));
    await publisher.publish("news:a", { n: 1 });
    await publisher.publish("user:heidi:inbox", { n: 2 });
    const delivered = await client.next((frame) => frame.seq !== undefined);
    expect(delivered.channel).toBe("user:heidi:inbox");
    client.close();
    publisher.close();
  });
});
