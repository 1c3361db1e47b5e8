// Subscribe, unsubscribe, publish and permissions over real sockets (docs/protocol.md sections 2, 3.4, 4 and 5).

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { connectAs, publications, type TestClient } from "../helpers/ws-client.ts";

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer();
});
afterAll(() => server.stop());

async function user(sub: string, claims: { subscribe?: string[]; publish?: string[] } = {}): Promise<TestClient> {
  return connectAs(server.wsUrl, await server.token({ sub, ...claims }));
}

describe("subscribe and unsubscribe", () => {
  test("ack carries seq and epoch, echoes the id, and has no recovery fields without since", async () => {
    const alice = await user("alice");
    const ack = await alice.subscribe("user:alice");
    expect(ack.channel).toBe("subscription");
    expect(ack.payload).toEqual({ status: "subscribed", channel: "user:alice", seq: 0, epoch: expect.any(String) });
    const unsubscribed = await alice.request("subscription", { action: "unsubscribe", channel: "user:alice" });
    expect(unsubscribed.payload).toEqual({ status: "unsubscribed", channel: "user:alice" });
    alice.close();
  });

  test("unsubscribing from a channel not subscribed is acked", async () => {
    const alice = await user("alice");
    const ack = await alice.request("subscription", { action: "unsubscribe", channel: "user:alice:never" });
    expect(ack.payload).toEqual({ status: "unsubscribed", channel: "user:alice:never" });
    alice.close();
  });

  test("subscribing twice repeats the state and delivers each publication once", async () => {
    const alice = await user("alice");
    await alice.subscribe("user:alice:twice");
    const again = await alice.subscribe("user:alice:twice");
    expect(again.payload.seq).toBe(0);
    const publisher = await user("alice");
    await publisher.publish("user:alice:twice", { n: 1 });
    await alice.next((frame) => frame.seq === 1);
    await alice.barrier();
    expect(publications(alice, "user:alice:twice")).toEqual([]);
    alice.close();
    publisher.close();
  });

  test("after unsubscribe nothing more is delivered", async () => {
    const alice = await user("alice");
    const publisher = await user("alice");
    await alice.subscribe("user:alice:gone");
    await alice.request("subscription", { action: "unsubscribe", channel: "user:alice:gone" });
    await publisher.publish("user:alice:gone", { n: 1 });
    await alice.barrier();
    expect(publications(alice, "user:alice:gone")).toEqual([]);
    alice.close();
    publisher.close();
  });
});

describe("publish", () => {
  test("delivers to every subscriber in order with gapless seq, the publisher excepted", async () => {
    const readers = [await user("bob"), await user("bob")];
    const writer = await user("bob");
    for (const reader of readers) await reader.subscribe("user:bob:feed");
    await writer.subscribe("user:bob:feed");
    const acks = [];
    for (let n = 1; n <= 20; n++) acks.push(await writer.publish("user:bob:feed", { n, nested: { list: [1, "two", null] } }));
    expect(acks.map((ack) => ack.payload)).toEqual(
      acks.map((_, index) => ({ type: "published", channel: "user:bob:feed", seq: index + 1 })),
    );
    expect(acks.every((ack) => ack.channel === "system")).toBe(true);
    for (const reader of readers) {
      await reader.next((frame) => frame.seq === 20);
      const received = [...publications(reader, "user:bob:feed")];
      // the 20th was taken by next(); the first 19 are queued in order
      expect(received.map((frame) => frame.seq)).toEqual(Array.from({ length: 19 }, (_, i) => i + 1));
      expect(received[0]!.payload).toEqual({ n: 1, nested: { list: [1, "two", null] } });
    }
    await writer.barrier();
    expect(publications(writer, "user:bob:feed")).toEqual([]);
    for (const client of [...readers, writer]) client.close();
  });

  test("a publish without id is delivered but not acked", async () => {
    const reader = await user("carol");
    const writer = await user("carol");
    await reader.subscribe("user:carol");
    writer.send({ channel: "user:carol", payload: { quiet: true } });
    const delivered = await reader.next((frame) => frame.channel === "user:carol");
    expect(delivered).toEqual({ channel: "user:carol", seq: 1, payload: { quiet: true } });
    await writer.barrier();
    expect(writer.pending((frame) => frame.payload.type === "published")).toEqual([]);
    reader.close();
    writer.close();
  });

  test("unknown top-level and payload fields are ignored; payload is delivered as sent", async () => {
    const reader = await user("dan");
    const writer = await user("dan");
    await reader.subscribe("user:dan", { extra: "ignored" });
    writer.send({ channel: "user:dan", id: "p1", trace: "x", payload: { text: "héllo ✓", deep: { a: [1.5, true] } } });
    const delivered = await reader.next((frame) => frame.channel === "user:dan");
    expect(delivered.payload).toEqual({ text: "héllo ✓", deep: { a: [1.5, true] } });
    reader.close();
    writer.close();
  });
});

describe("permissions", () => {
  test("own namespace is always allowed; another user's is forbidden", async () => {
    const eve = await user("eve");
    expect((await eve.subscribe("user:eve:private:deep")).payload.status).toBe("subscribed");
    const denied = await eve.subscribe("user:alice");
    expect(denied.channel).toBe("error");
    expect(denied.payload.code).toBe("forbidden");
    expect(denied.payload.message).toContain("user:alice");
    expect((await eve.publish("user:alice", { x: 1 })).payload.code).toBe("forbidden");
    // "user:eve2" is not inside eve's namespace
    expect((await eve.subscribe("user:eve2")).payload.code).toBe("forbidden");
    eve.close();
  });

  test("glob claims grant subscribe and publish separately", async () => {
    const fred = await user("fred", { subscribe: ["news:*"], publish: ["news:sport:*"] });
    expect((await fred.subscribe("news:anything:at:all")).payload.status).toBe("subscribed");
    expect((await fred.subscribe("weather")).payload.code).toBe("forbidden");
    expect((await fred.publish("news:sport:football", { goal: 1 })).payload.type).toBe("published");
    expect((await fred.publish("news:politics", { x: 1 })).payload.code).toBe("forbidden");
    fred.close();
  });

  test("reserved channels are never granted, even by a * glob", async () => {
    const root = await user("root", { subscribe: ["*"], publish: ["*"] });
    for (const channel of ["auth", "subscription", "chat", "system", "error"]) {
      expect((await root.subscribe(channel)).payload.code).toBe("forbidden");
    }
    expect((await root.publish("error", { x: 1 })).payload.code).toBe("forbidden");
    root.close();
  });

  test("thread channels: the owner may subscribe, others may not, nobody may publish", async () => {
    const thread = await server.app.storage.createThread({ ownerId: "gina", title: "t" });
    const gina = await user("gina", { publish: ["*"] });
    const ack = await gina.subscribe(`thread:${thread.id}`);
    expect(ack.payload.status).toBe("subscribed");
    expect((await gina.publish(`thread:${thread.id}`, { fake: "event" })).payload.code).toBe("forbidden");
    const hank = await user("hank");
    expect((await hank.subscribe(`thread:${thread.id}`)).payload.code).toBe("forbidden");
    expect((await hank.subscribe("thread:does-not-exist")).payload.code).toBe("forbidden");
    gina.close();
    hank.close();
  });
});

describe("POST /publish", () => {
  const post = (body: unknown, token?: string) =>
    fetch(`${server.httpUrl}/publish`, {
      method: "POST",
      headers: { "content-type": "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}) },
      body: typeof body === "string" ? body : JSON.stringify(body),
    });

  test("publishes with seq to socket subscribers", async () => {
    const reader = await user("ivan");
    await reader.subscribe("user:ivan:jobs");
    const response = await post({ channel: "user:ivan:jobs", payload: { done: true } }, await server.token({ sub: "ivan" }));
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ channel: "user:ivan:jobs", seq: 1 });
    expect(await reader.next((frame) => frame.channel === "user:ivan:jobs")).toEqual({
      channel: "user:ivan:jobs",
      seq: 1,
      payload: { done: true },
    });
    reader.close();
  });

  test("401 without or with a bad token, 403 without permission, 400 for bad bodies", async () => {
    const body = { channel: "user:ivan", payload: {} };
    expect((await post(body)).status).toBe(401);
    const bad = await post(body, "not-a-token");
    expect(bad.status).toBe(401);
    expect((await bad.json()).code).toBe("unauthorized");
    const forbidden = await post(body, await server.token({ sub: "judy" }));
    expect(forbidden.status).toBe(403);
    expect((await forbidden.json()).code).toBe("forbidden");
    const token = await server.token({ sub: "ivan" });
    const invalid = await post({ channel: "bad channel!", payload: [] }, token);
    expect(invalid.status).toBe(400);
    const error = await invalid.json();
    expect(error.code).toBe("invalid_message");
    expect(error.details).toEqual(expect.arrayContaining(["/channel", "/payload"]));
    const notJson = await post("{nope", token);
    expect(notJson.status).toBe(400);
    expect((await notJson.json()).code).toBe("invalid_json");
  });
});
