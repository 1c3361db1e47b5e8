// Request bodies (docs/protocol.md section 7.2): read only after authentication, JSON only, capped in bytes and depth.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { connectAs } from "../helpers/ws-client.ts";

let server: TestServer;
let token: string;
let threadId: string;
beforeAll(async () => {
  server = await startTestServer();
  token = await server.token({ sub: "bea" });
  threadId = (await post("/threads", { title: "mine" }, { auth: token })).body.id;
});
afterAll(() => server.stop());

interface PostOptions {
  auth?: string;
  contentType?: string | null;
  method?: string;
}

async function post(path: string, body: unknown, options: PostOptions = {}) {
  const headers: Record<string, string> = {};
  const contentType = options.contentType === undefined ? "application/json" : options.contentType;
  if (contentType !== null) headers["content-type"] = contentType;
  if (options.auth) headers.authorization = `Bearer ${options.auth}`;
  const encoded = body === undefined || typeof body === "string" || body instanceof Uint8Array || body instanceof ReadableStream ? body : JSON.stringify(body);
  const response = await fetch(`${server.httpUrl}${path}`, { method: options.method ?? "POST", headers, body: encoded as BodyInit | undefined });
  const text = await response.text();
  return { status: response.status, contentType: response.headers.get("content-type"), body: text ? JSON.parse(text) : undefined };
}

/** A chunked body (no Content-Length) of `total` bytes in 64 KiB chunks, made as it is read. */
function streamOf(total: number, fill = 32): ReadableStream<Uint8Array> {
  let sent = 0;
  return new ReadableStream({
    pull(controller) {
      if (sent >= total) return controller.close();
      const chunk = new Uint8Array(Math.min(65_536, total - sent)).fill(fill);
      sent += chunk.byteLength;
      controller.enqueue(chunk);
    },
  });
}

/** A chunked body that sends one chunk and then never ends: only a server that does not read it can answer. */
function endlessStream(): ReadableStream<Uint8Array> {
  return new ReadableStream({
    start(controller) {
      controller.enqueue(new TextEncoder().encode('{"channel":"user:bea","payload":{'));
    },
  });
}

const bodyRoutes = () => ["/publish", "/threads", `/threads/${threadId}/messages`];

describe("the server-wide cap", () => {
  test("a Content-Length over MAX_BODY_BYTES is 413 too_large in our JSON shape on every route, token or not", async () => {
    const tooBig = new Uint8Array(server.app.config.maxBodyBytes + 1).fill(32);
    for (const path of [...bodyRoutes(), "/no-such-route", "/healthz"]) {
      for (const auth of [undefined, token]) {
        const response = await post(path, tooBig, { auth });
        expect([path, response.status, response.contentType]).toEqual([path, 413, "application/json;charset=utf-8"]);
        expect(response.body).toEqual({ code: "too_large", message: expect.stringContaining(String(server.app.config.maxBodyBytes)) });
      }
    }
    const deleted = await post(`/threads/${threadId}`, tooBig, { auth: token, method: "DELETE" });
    expect(deleted.status).toBe(413);
  });

  test("a chunked body past MAX_BODY_BYTES is cut there: 413", async () => {
    for (const path of ["/threads", `/threads/${threadId}/messages`]) {
      const response = await post(path, streamOf(server.app.config.maxBodyBytes + 65_536), { auth: token });
      expect([path, response.status, response.body?.code]).toEqual([path, 413, "too_large"]);
    }
  });
});

describe("authentication before the body", () => {
  test("no token or a bad one is 401 while the body is still arriving", async () => {
    for (const path of bodyRoutes()) {
      for (const auth of [undefined, "not-a-token"]) {
        const response = await post(path, endlessStream(), { auth });
        expect([path, auth, response.status, response.body.code]).toEqual([path, auth, 401, "unauthorized"]);
      }
    }
  });

  test("a thread of someone else is 404 before its body is read", async () => {
    const response = await post(`/threads/${threadId}/messages`, endlessStream(), { auth: await server.token({ sub: "eve" }) });
    expect(response.status).toBe(404);
  });
});

describe("JSON only", () => {
  test("multipart, form, text and untyped bodies are 415 unsupported_media_type", async () => {
    const form = new FormData();
    form.set("channel", "user:bea");
    const bodies: [unknown, string | null][] = [
      [form, null], // fetch sets multipart/form-data with its boundary
      [new URLSearchParams({ channel: "user:bea" }), null], // and application/x-www-form-urlencoded
      ['{"channel":"user:bea","payload":{}}', "text/plain"],
      ['{"channel":"user:bea","payload":{}}', "application/json; charset=latin1"],
      [new TextEncoder().encode('{"title":"x"}'), null],
    ];
    for (const path of bodyRoutes()) {
      for (const [body, contentType] of bodies) {
        const response = await fetch(`${server.httpUrl}${path}`, {
          method: "POST",
          headers: { authorization: `Bearer ${token}`, ...(contentType ? { "content-type": contentType } : {}) },
          body: body as BodyInit,
        });
        expect([path, contentType, response.status]).toEqual([path, contentType, 415]);
        expect((await response.json()).code).toBe("unsupported_media_type");
      }
    }
  });

  test("application/json with a UTF-8 charset is accepted", async () => {
    const publisher = await server.token({ sub: "bea", publish: ["user:bea:*"] });
    for (const contentType of ["application/json; charset=utf-8", "Application/JSON;charset=UTF-8"]) {
      const response = await post("/publish", { channel: "user:bea:feed", payload: { ok: true } }, { auth: publisher, contentType });
      expect(response.status).toBe(200);
    }
  });

  test("an empty body where one is required is 400 invalid_json", async () => {
    const response = await post("/publish", "", { auth: token });
    expect(response.status).toBe(400);
    expect(response.body.code).toBe("invalid_json");
  });
});

describe("POST /publish obeys MAX_FRAME_BYTES", () => {
  const envelope = (bytes: number) => {
    const head = '{"channel":"user:bea:big","payload":{"s":"';
    return head + "x".repeat(bytes - head.length - 3) + '"}}';
  };

  test("a body over MAX_FRAME_BYTES (but under MAX_BODY_BYTES) is 413 and not published; one at the limit is published", async () => {
    const { maxFrameBytes, maxBodyBytes } = server.app.config;
    expect(maxFrameBytes + 1024).toBeLessThan(maxBodyBytes);
    const publisher = await server.token({ sub: "bea", publish: ["user:bea:*"] });
    const reader = await connectAs(server.wsUrl, publisher);
    await reader.subscribe("user:bea:big");
    for (const body of [envelope(maxFrameBytes + 1024), streamOf(maxFrameBytes + 1024)]) {
      const refused = await post("/publish", body, { auth: publisher });
      expect(refused.status).toBe(413);
      expect(refused.body).toEqual({ code: "too_large", message: expect.any(String) });
    }
    const accepted = await post("/publish", envelope(maxFrameBytes), { auth: publisher });
    expect(accepted.body).toEqual({ channel: "user:bea:big", seq: 1 });
    // Only the publication at the limit reached the subscriber.
    const delivered = await reader.next((frame) => frame.channel === "user:bea:big");
    expect(delivered.seq).toBe(1);
    await reader.barrier();
    expect(reader.pending((frame) => frame.channel === "user:bea:big")).toEqual([]);
    reader.close();
  });
});

describe("POST /threads", () => {
  test("malformed JSON is 400 invalid_json and creates nothing", async () => {
    const other = await server.token({ sub: "carl" });
    const response = await post("/threads", '{"title": "oops"', { auth: other });
    expect(response.status).toBe(400);
    expect(response.body.code).toBe("invalid_json");
    expect((await fetch(`${server.httpUrl}/threads`, { headers: { authorization: `Bearer ${other}` } }).then((r) => r.json())).threads).toEqual([]);
  });

  test("an absent or empty body creates an untitled thread; a bad title is 400 invalid_message", async () => {
    for (const contentType of [null, "application/json", "text/plain"]) {
      const response = await post("/threads", undefined, { auth: token, contentType });
      expect([contentType, response.status, response.body.title]).toEqual([contentType, 201, ""]);
    }
    expect((await post("/threads", "", { auth: token })).status).toBe(201);
    expect((await post("/threads", { title: "named" }, { auth: token })).body.title).toBe("named");
    const invalid = await post("/threads", { title: 5 }, { auth: token });
    expect(invalid.status).toBe(400);
    expect(invalid.body).toMatchObject({ code: "invalid_message", details: ["/title"] });
  });
});

test("the OpenAPI document still describes the JSON bodies", async () => {
  const document = await (await fetch(`${server.httpUrl}/openapi/json`)).json();
  const schemaOf = (path: string) => document.paths[path].post.requestBody.content["application/json"].schema;
  expect(Object.keys(schemaOf("/publish").properties)).toEqual(["channel", "payload"]);
  expect(Object.keys(schemaOf("/threads").properties)).toEqual(["title"]);
  expect(Object.keys(schemaOf("/threads/{id}/messages").properties)).toEqual(["content", "use_reasoning"]);
  expect(document.paths["/threads/{id}/messages"].post.requestBody.required).toBe(true);
  expect(document.paths["/threads"].post.requestBody.required).toBe(false);
});
