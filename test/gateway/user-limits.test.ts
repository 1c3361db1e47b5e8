// Per-user and publish-byte limits of docs/protocol.md section 8.3: MAX_CONNECTIONS_PER_USER,
// PUBLISH_BYTES_PER_S / PUBLISH_BURST_BYTES on sockets and on POST /publish.

import { afterEach, describe, expect, test } from "bun:test";
import { ProtocolError } from "../../src/protocol/index.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { waitFor } from "../helpers/wait.ts";
import { TestClient, connectAs, type CloseInfo, type Frame } from "../helpers/ws-client.ts";

let server: TestServer | undefined;
afterEach(async () => {
  await server?.stop();
  server = undefined;
});

/** What the server does first with a fresh connection: its first frame, or its close. */
function firstAnswer(client: TestClient): Promise<Frame | CloseInfo> {
  return Promise.race([client.closed, client.next().catch(() => client.closed)]);
}

const TOO_MANY = { code: 1008, reason: "too_many_connections" };

describe("connections per user", () => {
  test("past MAX_CONNECTIONS_PER_USER a connection is closed 1008 too_many_connections; a closed one frees its slot", async () => {
    server = await startTestServer({ MAX_CONNECTIONS_PER_USER: "3" });
    const target = server;
    const token = await target.token({ sub: "alice" });
    const alice = [await connectAs(target.wsUrl, token), await connectAs(target.wsUrl, token), await connectAs(target.wsUrl, token)];

    // The token at the upgrade...
    const byQuery = await TestClient.connect(`${target.wsUrl}?token=${token}`);
    expect(await firstAnswer(byQuery)).toEqual(TOO_MANY);
    const byHeader = await TestClient.connect(target.wsUrl, { headers: { authorization: `Bearer ${token}` } });
    expect(await firstAnswer(byHeader)).toEqual(TOO_MANY);
    // ...or in an `auth` frame.
    const byFrame = await TestClient.connect(target.wsUrl);
    byFrame.send({ channel: "auth", id: "a", payload: { token } });
    expect(await firstAnswer(byFrame)).toEqual(TOO_MANY);

    // Another user is not affected.
    const bob = await connectAs(target.wsUrl, await target.token({ sub: "bob" }));

    // A token refresh on a connection that holds a slot takes no second one.
    const refreshed = await alice[0]!.request("auth", { token: await target.token({ sub: "alice" }) });
    expect(refreshed.payload.type).toBe("connected");

    alice[2]!.close();
    await alice[2]!.closed;
    await waitFor(() => target.app.gateway.connectionCount === 3, "the closed connection to be released");
    const again = await connectAs(target.wsUrl, token);
    await again.barrier();
    expect(again.closeInfo).toBeUndefined();
    for (const client of [alice[0]!, alice[1]!]) {
      await client.barrier();
      expect(client.closeInfo).toBeUndefined();
    }
    const metrics = await (await fetch(`${target.httpUrl}/metrics`)).text();
    expect(metrics).toContain('agentwire_closes_total{reason="too_many_connections"} 3');
    for (const client of [alice[0]!, alice[1]!, again, bob]) client.close();
  });
});

describe("publish bytes per connection", () => {
  // Each payload is 1,000 bytes: four fit the burst, and the refill (1,024 bytes a second) lets
  // another one through only once per second, so sending twenty at once is refused some whatever the timing.
  const settings = { PUBLISH_BURST_BYTES: "4096", PUBLISH_BYTES_PER_S: "1024", MAX_CONNECTIONS_PER_USER: "2" };
  const payload = (n: number) => ({ n: String(n).padStart(2, "0"), body: "x".repeat(980) });

  /** Sends `count` publishes in one go and sorts the answers into accepted and refused numbers. */
  async function publishBurst(client: TestClient, channel: string, prefix: string, count: number) {
    for (let n = 0; n < count; n++) client.send({ channel, id: `${prefix}${n}`, payload: payload(n) });
    const accepted: number[] = [];
    const refused: Frame[] = [];
    for (let n = 0; n < count; n++) {
      const answer = await client.next((frame) => frame.id === `${prefix}${n}`);
      if (answer.channel === "system" && answer.payload.type === "published") accepted.push(n);
      else refused.push(answer);
    }
    return { accepted, refused };
  }

  test("a publish over the connection's byte budget is refused rate_limited and not published; the connection stays", async () => {
    server = await startTestServer(settings);
    expect(JSON.stringify(payload(7)).length).toBe(1000);
    const watcher = await connectAs(server.wsUrl, await server.token({ sub: "watcher", subscribe: ["user:alice"] }));
    await watcher.subscribe("user:alice");
    const publisher = await connectAs(server.wsUrl, await server.token({ sub: "alice" }));

    const { accepted, refused } = await publishBurst(publisher, "user:alice", "p", 20);
    expect(accepted.slice(0, 4)).toEqual([0, 1, 2, 3]);
    expect(refused.length).toBeGreaterThan(0);
    for (const error of refused) {
      expect(error.channel).toBe("error");
      expect(error.payload.code).toBe("rate_limited");
    }
    // Every publication was fanned out before its ack: after a round trip the watcher holds them all.
    await watcher.barrier();
    const seen = watcher.drain((frame) => frame.channel === "user:alice").map((frame) => Number(frame.payload.n));
    expect(seen).toEqual(accepted);

    await publisher.barrier();
    expect(publisher.closeInfo).toBeUndefined();
    publisher.close();
    watcher.close();
  });

  test("the budget is per connection, and the connection cap bounds how many a user has", async () => {
    server = await startTestServer(settings);
    const token = await server.token({ sub: "alice" });
    const first = await connectAs(server.wsUrl, token);
    const exhausted = await publishBurst(first, "user:alice", "a", 20);
    expect(exhausted.refused.length).toBeGreaterThan(0);

    // A second connection of the same user has its own full bucket: its whole burst goes through.
    const second = await connectAs(server.wsUrl, token);
    const fresh = await publishBurst(second, "user:alice", "b", 4);
    expect(fresh).toEqual({ accepted: [0, 1, 2, 3], refused: [] });

    // A third would bring another bucket; MAX_CONNECTIONS_PER_USER (2) refuses it.
    expect(await firstAnswer(await TestClient.connect(`${server.wsUrl}?token=${token}`))).toEqual(TOO_MANY);
    first.close();
    second.close();
  });
});

describe("publish bytes per user over HTTP", () => {
  // The gateway call behind POST /publish, with the clock given: a refill of 1,024 bytes a second
  // is too slow to matter against a 64 KiB burst while the test runs.
  const settings = { PUBLISH_BURST_BYTES: "65536", PUBLISH_BYTES_PER_S: "1024" };

  test("a user's publishes over the budget are refused rate_limited until the bucket refills; other users are not", async () => {
    server = await startTestServer(settings);
    const gateway = server.app.gateway;
    const now = Date.now();
    gateway.takePublishBytes("alice", 60_000, now);
    const refusal = (() => {
      try {
        gateway.takePublishBytes("alice", 10_000, now);
      } catch (error) {
        return error;
      }
    })();
    expect(refusal).toBeInstanceOf(ProtocolError);
    expect((refusal as ProtocolError).code).toBe("rate_limited");
    // What was refused was not taken: the 5,536 bytes left still go through.
    gateway.takePublishBytes("alice", 5_000, now);
    gateway.takePublishBytes("bob", 60_000, now);
    // Ten seconds later, 10,240 more bytes.
    gateway.takePublishBytes("alice", 10_000, now + 10_000);
    expect(() => gateway.takePublishBytes("alice", 2_000, now + 10_000)).toThrow(ProtocolError);
  });

  test("POST /publish past the user's budget is 429 rate_limited and publishes nothing", async () => {
    server = await startTestServer({ PUBLISH_BURST_BYTES: "4096", PUBLISH_BYTES_PER_S: "1024" });
    const token = await server.token({ sub: "alice" });
    const watcher = await connectAs(server.wsUrl, token);
    await watcher.subscribe("user:alice:feed");
    const post = (size: number) =>
      fetch(`${server!.httpUrl}/publish`, {
        method: "POST",
        headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
        body: JSON.stringify({ channel: "user:alice:feed", payload: { text: "x".repeat(size) } }),
      });
    expect((await post(3000)).status).toBe(200);
    const refused = await post(3000);
    expect(refused.status).toBe(429);
    expect((await refused.json()).code).toBe("rate_limited");
    await watcher.barrier();
    expect(watcher.drain((frame) => frame.channel === "user:alice:feed").map((frame) => frame.seq)).toEqual([1]);
    watcher.close();
  });

  test("the buckets stay bounded: past 10,000 users publishing at once, the oldest bucket is dropped", async () => {
    server = await startTestServer(settings);
    const gateway = server.app.gateway;
    const now = Date.now();
    gateway.takePublishBytes("oldest", 65_536, now);
    expect(() => gateway.takePublishBytes("oldest", 1_000, now)).toThrow(ProtocolError);
    for (let user = 0; user < 10_000; user++) gateway.takePublishBytes(`user-${user}`, 65_536, now);
    // Its bucket was dropped for the newest user's, so it starts full again.
    gateway.takePublishBytes("oldest", 1_000, now);
    expect(() => gateway.takePublishBytes("user-9999", 1_000, now)).toThrow(ProtocolError);
  });
});
