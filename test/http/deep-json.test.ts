// Deeply nested JSON over the socket and HTTP: invalid_message / 400, and the server keeps serving.

import { afterAll, beforeAll, expect, test } from "bun:test";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { connectAs } from "../helpers/ws-client.ts";

let server: TestServer;
let token: string;
beforeAll(async () => {
  server = await startTestServer();
  token = await server.token({ sub: "dee", publish: ["user:dee:*"] });
});
afterAll(() => server.stop());

const deep = (levels: number) => "[".repeat(levels) + "]".repeat(levels);

const post = (path: string, body: string) =>
  fetch(`${server.httpUrl}${path}`, { method: "POST", headers: { authorization: `Bearer ${token}`, "content-type": "application/json" }, body });

test("a frame nested 40,000 deep is invalid_message and the connection stays open", async () => {
  const client = await connectAs(server.wsUrl, token);
  client.send(`{"channel":"user:dee:feed","id":"deep","payload":{"a":${deep(40_000)}}}`);
  const error = await client.next((frame) => frame.channel === "error");
  expect(error.payload).toEqual({ code: "invalid_message", message: expect.stringContaining("deeper") });
  expect((await client.publish("user:dee:feed", { after: true })).payload).toMatchObject({ type: "published", seq: 1 });
  expect(client.closeInfo).toBeUndefined();
  client.close();
});

test("a body nested 40,000 deep is 400 invalid_message on every JSON route, and the server keeps serving", async () => {
  const thread = await (await post("/threads", "{}")).json();
  const bodies: [string, string][] = [
    ["/publish", `{"channel":"user:dee:feed","payload":{"a":${deep(40_000)}}}`],
    ["/threads", `{"title":${deep(40_000)}}`],
    [`/threads/${thread.id}/messages`, `{"content":${deep(40_000)}}`],
  ];
  for (const [path, body] of bodies) {
    const response = await post(path, body);
    expect([path, response.status]).toEqual([path, 400]);
    expect((await response.json()).code).toBe("invalid_message");
  }
  expect((await fetch(`${server.httpUrl}/healthz`)).status).toBe(200);
  const published = await post("/publish", JSON.stringify({ channel: "user:dee:after", payload: { ok: true } }));
  expect(await published.json()).toEqual({ channel: "user:dee:after", seq: 1 });
});
