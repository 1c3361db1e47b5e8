// Every error code of docs/protocol.md section 8.2 as a client sees it, and what reaches the log instead.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { ErrorCode, ProtocolError } from "../../src/protocol/index.ts";
import type { ChatHandler } from "../../src/gateway/gateway.ts";
import type { Storage } from "../../src/storage/storage.ts";
import { SqliteStorage } from "../../src/storage/sqlite/sqlite-storage.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { connectAs, type TestClient } from "../helpers/ws-client.ts";

let server: TestServer;
let client: TestClient;
beforeAll(async () => {
  server = await startTestServer();
  client = await connectAs(server.wsUrl, await server.token({ sub: "una" }));
});
afterAll(async () => {
  client.close();
  await server.stop();
});

const nextError = () => client.next((frame) => frame.channel === "error");

describe("frames the protocol refuses", () => {
  test("invalid_json, without closing", async () => {
    client.send("{not json");
    expect((await nextError()).payload).toEqual({ code: "invalid_json", message: expect.any(String) });
    await client.barrier();
  });

  test("unsupported_frame for binary, without closing", async () => {
    client.socket.send(new Uint8Array([0x7b, 0x7d]));
    expect((await nextError()).payload.code).toBe("unsupported_frame");
    await client.barrier();
  });

  test("invalid_message lists the failing paths and echoes a valid id", async () => {
    client.send({ channel: "subscription", id: "x1", payload: { action: "subscribe", channel: "bad channel", since: "1" } });
    const error = await nextError();
    expect(error.id).toBe("x1");
    expect(error.payload.code).toBe("invalid_message");
    expect(error.payload.details).toEqual(expect.arrayContaining(["/payload/channel", "/payload/since"]));
    const text = JSON.stringify(error);
    expect(text).not.toContain("pattern");
    expect(text).not.toContain("schema");
  });

  test("an invalid id gets invalid_message without an id", async () => {
    for (const id of ["", "x".repeat(65), 7]) {
      client.send({ channel: "system", id, payload: { type: "ping" } });
      const error = await nextError();
      expect(error.id).toBeUndefined();
      expect(error.payload).toMatchObject({ code: "invalid_message", details: ["/id"] });
    }
  });

  test("envelopes that are not objects, lack a payload or name a bad channel", async () => {
    for (const frame of ["[]", "42", '"text"', JSON.stringify({ channel: "user:una" }), JSON.stringify({ channel: "a b", payload: {} }), JSON.stringify({ channel: "user:una", payload: [1] })]) {
      client.send(frame);
      expect((await nextError()).payload.code).toBe("invalid_message");
    }
  });

  test("unknown subscription action and system type", async () => {
    expect((await client.request("subscription", { action: "watch", channel: "user:una" })).payload).toMatchObject({
      code: "invalid_message",
      details: ["/payload/action"],
    });
    expect((await client.request("system", { type: "shutdown" })).payload.code).toBe("invalid_message");
  });

  test("forbidden for reserved channels and missing permissions", async () => {
    expect((await client.request("error", { anything: 1 })).payload.code).toBe("forbidden");
  });
});

describe("errors from services behind the socket", () => {
  // The gateway's chat handler is fixed when it is built; these tests put a stand-in in its place.
  const setChat = (handler: ChatHandler | undefined) => ((server.app.gateway as { chat: ChatHandler | undefined }).chat = handler);

  test("chat without the agent service is unavailable", async () => {
    const agent = server.app.gateway.chat;
    setChat(undefined);
    try {
      const reply = await client.request("chat", { action: "send", content: "hi" });
      expect(reply.payload.code).toBe("unavailable");
    } finally {
      setChat(agent);
    }
  });

  test("coded errors pass through; unknown failures become internal, logged with the connection id", async () => {
    const connected = await connectAs(server.wsUrl, await server.token({ sub: "una" }));
    let next: unknown = new ProtocolError(ErrorCode.notFound, "no such run");
    setChat({
      async handle() {
        throw next;
      },
    });
    try {
      expect((await connected.request("chat", { action: "stop", message_id: "m" })).payload).toEqual({ code: "not_found", message: "no such run" });
      next = new ProtocolError(ErrorCode.conflict, "a run is already active on this thread");
      expect((await connected.request("chat", { action: "send", content: "x" })).payload.code).toBe("conflict");
      next = new Error("database exploded at /srv/secret/path");
      const internal = await connected.request("chat", { action: "send", content: "x" });
      expect(internal.payload).toEqual({ code: "internal", message: "internal server error" });
      expect(JSON.stringify(internal)).not.toContain("exploded");
      const logged = server.logs.find((line) => line.msg === "frame handling failed");
      expect(logged).toBeDefined();
      expect(typeof logged!.connection_id).toBe("string");
      expect(JSON.stringify(logged)).toContain("exploded");
      // The connection keeps serving.
      await connected.barrier();
    } finally {
      setChat(server.app.agent);
      connected.close();
    }
  });

  test("a storage failure during a permission check is unavailable, and the socket stays", async () => {
    const storage = SqliteStorage.open(":memory:");
    const failing: Storage = Object.assign(Object.create(storage), {
      threadRole: async () => {
        throw new Error("disk I/O error");
      },
    });
    const broken = await startTestServer({}, { storage: failing });
    try {
      const user = await connectAs(broken.wsUrl, await broken.token({ sub: "una" }));
      expect((await user.subscribe("thread:abc")).payload.code).toBe("unavailable");
      await user.barrier();
      user.close();
    } finally {
      await broken.stop();
    }
  });
});

test("errors are counted by code in /metrics", async () => {
  const metrics = await (await fetch(`${server.httpUrl}/metrics`)).text();
  for (const code of ["invalid_json", "unsupported_frame", "invalid_message", "forbidden", "unavailable"]) {
    expect(metrics).toMatch(new RegExp(`agentwire_errors_total\\{code="${code}"\\} [1-9]`));
  }
  expect(metrics).toMatch(/agentwire_connections [1-9]/);
  expect(metrics).toMatch(/agentwire_frames_in_total [1-9]/);
  expect(metrics).toMatch(/agentwire_frames_out_total [1-9]/);
});
