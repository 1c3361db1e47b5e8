// Who may open an SSE stream and what a refusal looks like (docs/protocol.md section 10): the same
// permissions as a WebSocket subscribe, and the same per-user connection limit.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { textResponse } from "../../helpers/fake-openai.ts";
import { collectRun, send, startAgentHarness, type AgentHarness } from "../../helpers/runs.ts";
import { SseClient } from "../../helpers/sse-client.ts";
import { waitFor } from "../../helpers/wait.ts";
import { connectAs } from "../../helpers/ws-client.ts";
import { bearer, channelEvents, refusal, threadEvents } from "./sse-kit.ts";

let harness: AgentHarness;
let baseUrl: string;
let aliceToken: string;
let aliceThread: string;
beforeAll(async () => {
  harness = await startAgentHarness({ MAX_CONNECTIONS_PER_USER: "2" });
  baseUrl = harness.server.httpUrl;
  aliceToken = await harness.server.token({ sub: "alice" });
  const alice = await connectAs(harness.server.wsUrl, aliceToken);
  harness.fake.enqueue(textResponse("Mine."));
  const ack = await send(alice, "A thread of my own");
  await collectRun(alice, ack.message_id);
  aliceThread = ack.thread_id;
  alice.close();
  await waitFor(() => harness.server.app.gateway.connectionCount === 0, "alice's socket to be released");
});
afterAll(() => harness.stop());

describe("permissions", () => {
  test("the owner streams a thread; the response is an uncached event stream", async () => {
    const stream = await SseClient.open(threadEvents(baseUrl, aliceThread), { headers: bearer(aliceToken) });
    expect(stream.response.headers.get("content-type")).toBe("text/event-stream; charset=utf-8");
    expect(stream.response.headers.get("cache-control")).toContain("no-cache");
    expect(await stream.next()).toMatchObject({ kind: "event", id: expect.stringMatching(/:4$/) });
    stream.abort();
  });

  test("another user's thread is 404 with the same body as an unknown thread", async () => {
    const bobToken = await harness.server.token({ sub: "bob" });
    const unknown = crypto.randomUUID();
    const theirs = await refusal(threadEvents(baseUrl, aliceThread), bearer(bobToken));
    const missing = await refusal(threadEvents(baseUrl, unknown), bearer(bobToken));
    expect(theirs).toEqual({ status: 404, body: { code: "not_found", message: `no thread ${aliceThread}` } });
    expect(missing).toEqual({ status: 404, body: { code: "not_found", message: `no thread ${unknown}` } });
    // As a channel too.
    expect(await refusal(channelEvents(baseUrl, `thread:${aliceThread}`), bearer(bobToken))).toEqual(theirs);
  });

  test("a channel the token may not subscribe to is 403, a granted one streams; reserved channels are 403", async () => {
    const token = await harness.server.token({ sub: "carl", subscribe: ["news:*"] });
    const granted = await SseClient.open(channelEvents(baseUrl, "news:today"), { headers: bearer(token) });
    granted.abort();
    const own = await SseClient.open(channelEvents(baseUrl, "user:carl:inbox"), { headers: bearer(token) });
    own.abort();
    for (const channel of ["user:dora", "sports:today", "news"]) {
      expect(await refusal(channelEvents(baseUrl, channel), bearer(token))).toEqual({
        status: 403,
        body: { code: "forbidden", message: `no subscribe permission on channel ${channel}` },
      });
    }
    for (const channel of ["system", "auth", "subscription", "chat", "error"]) {
      expect(await refusal(channelEvents(baseUrl, channel), bearer(token))).toEqual({
        status: 403,
        body: { code: "forbidden", message: `channel ${channel} is reserved` },
      });
    }
  });

  test("no token, a bad or an expired one is 401; ?token= works as EventSource needs", async () => {
    const url = channelEvents(baseUrl, "user:erin");
    expect(await refusal(url)).toMatchObject({ status: 401, body: { code: "unauthorized" } });
    expect(await refusal(url, { authorization: "Bearer not-a-jwt" })).toMatchObject({ status: 401, body: { code: "unauthorized" } });
    expect(await refusal(`${url}?token=not-a-jwt`)).toMatchObject({ status: 401, body: { code: "unauthorized" } });
    const expired = await harness.server.token({ sub: "erin" }, -10);
    expect(await refusal(url, bearer(expired))).toMatchObject({ status: 401, body: { code: "unauthorized" } });
    const token = await harness.server.token({ sub: "erin" });
    const stream = await SseClient.open(`${url}?token=${encodeURIComponent(token)}`);
    expect(await stream.next()).toMatchObject({ kind: "event", id: expect.stringMatching(/:0$/) });
    stream.abort();
    // Someone else's token in the query gets that user's permissions.
    expect(await refusal(channelEvents(baseUrl, "user:frank", `?token=${encodeURIComponent(token)}`))).toMatchObject({ status: 403 });
  });

  test("a bad Last-Event-ID, since, epoch or until is 400 invalid_message; so is a bad channel name", async () => {
    const token = await harness.server.token({ sub: "gus" });
    const url = channelEvents(baseUrl, "user:gus");
    for (const lastEventId of ["nocolon", "E:x", "E:-1", ":1", "E:1.0"]) {
      expect(await refusal(url, { ...bearer(token), "last-event-id": lastEventId })).toMatchObject({ status: 400, body: { code: "invalid_message" } });
    }
    for (const query of ["?since=x", "?since=-1", "?since=1.5", "?epoch=E", "?since=1&epoch=a:b", "?until=never"]) {
      expect(await refusal(channelEvents(baseUrl, "user:gus", query), bearer(token))).toMatchObject({ status: 400, body: { code: "invalid_message" } });
    }
    expect(await refusal(channelEvents(baseUrl, "user:gus a"), bearer(token))).toMatchObject({ status: 400, body: { code: "invalid_message" } });
    expect(await refusal(channelEvents(baseUrl, "x".repeat(129)), bearer(token))).toMatchObject({ status: 400, body: { code: "invalid_message" } });
  });
});

describe("connection limits", () => {
  test("SSE streams count toward MAX_CONNECTIONS_PER_USER with sockets; a closed stream frees its slot", async () => {
    const token = await harness.server.token({ sub: "hana" });
    const url = channelEvents(baseUrl, "user:hana");
    const socket = await connectAs(harness.server.wsUrl, token);
    const first = await SseClient.open(url, { headers: bearer(token) });
    expect(await refusal(url, bearer(token))).toEqual({
      status: 429,
      body: { code: "too_many_connections", message: "this user holds as many connections as allowed on this node" },
    });
    // Another user is not affected.
    const other = await SseClient.open(channelEvents(baseUrl, "user:ivan"), { headers: bearer(await harness.server.token({ sub: "ivan" })) });
    other.abort();
    first.abort();
    await waitFor(() => harness.server.app.gateway.connectionCount === 1, "the aborted streams to be released");
    const second = await SseClient.open(url, { headers: bearer(token) });
    expect(await second.next()).toMatchObject({ kind: "event" });
    socket.close();
    await waitFor(() => harness.server.app.gateway.connectionCount === 1, "the socket to be released");
    const third = await SseClient.open(url, { headers: bearer(token) });
    second.abort();
    third.abort();
    await waitFor(() => harness.server.app.gateway.connectionCount === 0, "every stream to be released");
    expect(harness.server.app.gateway.totalSubscriptions).toBe(0);
  });
});
