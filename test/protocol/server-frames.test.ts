// Every frame a real session receives, and every REST answer, matches its schema in src/protocol/: a session
// that authenticates, subscribes, publishes, pings, runs the agent (approval, reasoning, sources, stop, a
// model failure), meets errors and sees the server shut down.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { TSchema } from "@sinclair/typebox";
import { Value } from "@sinclair/typebox/value";
import {
  ErrorPayload,
  PublishResult,
  RunAccepted,
  RunEventFrame,
  ServerFrame,
  ThreadList,
  ThreadSnapshot,
  ThreadView,
  ServerFrameSchemas,
} from "../../src/protocol/index.ts";
import { errorResponse, textResponse, toolCallResponse } from "../helpers/fake-openai.ts";
import { collectRun, send, shape, startAgentHarness, type AgentHarness } from "../helpers/runs.ts";
import { waitFor } from "../helpers/wait.ts";
import { TestClient, type Frame } from "../helpers/ws-client.ts";

const FRAME_SCHEMAS: Record<string, TSchema> = ServerFrameSchemas;

/** Where `value` fails `schema`, as `path: message` lines; empty when it matches. */
function failures(schema: TSchema, value: unknown): string[] {
  return [...Value.Errors(schema, value)].map((error) => `${error.path}: ${error.message}`);
}

function expectMatches(schema: TSchema, value: unknown): void {
  expect({ value, failures: failures(schema, value) }).toEqual({ value, failures: [] });
}

let harness: AgentHarness;
let serverStopped = false;
let client: TestClient;
// Every frame the client received, raw from the socket (TestClient's queue loses those next() took).
const received: Frame[] = [];
// Which member of the ServerFrame union each frame matched, and what else was seen, over the whole file.
const seen = new Set<string>();

/** Checks every frame received since the last call against ServerFrame, and exactly one of its members. */
function checkReceived(): void {
  for (const frame of received.splice(0)) {
    expectMatches(ServerFrame, frame);
    const matching = Object.keys(FRAME_SCHEMAS).filter((name) => Value.Check(FRAME_SCHEMAS[name]!, frame));
    expect({ frame, matching }).toEqual({ frame, matching: [matching[0]!] });
    seen.add(matching[0]!);
    if (frame.channel.startsWith("thread:")) {
      expectMatches(RunEventFrame, frame);
      seen.add(`event ${frame.payload.type}/${frame.payload.status}`);
    }
    if (frame.channel === "chat") seen.add(`chat ${frame.payload.status}`);
    if (frame.channel === "error") seen.add(`error ${frame.payload.code}`);
  }
}

const token = (claims: { sub: string; subscribe?: string[] }) => harness.server.token(claims);

/** A REST call as alice (or without a token); a string body is sent as it is. */
async function rest(method: string, path: string, body?: unknown, options: { anonymous?: boolean } = {}): Promise<{ status: number; body: unknown }> {
  const headers: Record<string, string> = options.anonymous ? {} : { authorization: `Bearer ${await token({ sub: "alice" })}` };
  if (body !== undefined) headers["content-type"] = "application/json";
  const text = body === undefined || typeof body === "string" ? body : JSON.stringify(body);
  const response = await fetch(harness.server.httpUrl + path, { method, headers, body: text });
  return { status: response.status, body: await response.json() };
}

/** The stored message once `condition` holds for it, read through GET /threads/:id/messages (checked against ThreadSnapshot). */
async function storedMessage(threadId: string, messageId: string, condition: (message: Record<string, any>) => boolean) {
  let found: Record<string, any> | undefined;
  await waitFor(async () => {
    const answer = await rest("GET", `/threads/${threadId}/messages`);
    expect(answer.status).toBe(200);
    expectMatches(ThreadSnapshot, answer.body);
    found = (answer.body as { messages: Record<string, any>[] }).messages.find((message) => message.id === messageId);
    return found !== undefined && condition(found);
  }, `message ${messageId} to be stored as expected`);
  return found!;
}

beforeAll(async () => {
  harness = await startAgentHarness({ TOOLS_REQUIRE_APPROVAL: "calculator" });
  client = new TestClient(harness.server.wsUrl);
  client.socket.addEventListener("message", (event) => received.push(JSON.parse(String(event.data))));
  await client.opened;
});
afterAll(async () => {
  client.close();
  if (!serverStopped) await harness.stop();
});

describe("frames", () => {
  test("auth, subscribe, publish, ping, recovery, refresh and unsubscribe", async () => {
    const connected = await client.request("auth", { token: await token({ sub: "alice", subscribe: ["news:*"] }) });
    expect(connected.payload).toMatchObject({ type: "connected", user_id: "alice" });

    const subscribed = await client.subscribe("user:alice:inbox");
    expect(subscribed.payload).toMatchObject({ status: "subscribed", seq: 0 });
    expect((await client.publish("user:alice:inbox", { text: "from the socket" })).payload).toMatchObject({ type: "published", seq: 1 });
    // Over HTTP the publication has no origin, so this socket gets it.
    const published = await rest("POST", "/publish", { channel: "user:alice:inbox", payload: { text: "over http" } });
    expect(published.status).toBe(200);
    expectMatches(PublishResult, published.body);
    const publication = await client.next((frame) => frame.channel === "user:alice:inbox" && frame.seq === 2);
    expect(publication.payload).toEqual({ text: "over http" });

    const resumed = await client.subscribe("user:alice:inbox", { since: 0, epoch: subscribed.payload.epoch });
    expect(resumed.payload).toMatchObject({ recovered: true, replayed: 2 });
    await waitFor(() => client.pending((frame) => frame.channel === "user:alice:inbox").length === 2, "the replay");
    client.drain();

    await client.barrier();
    client.send({ channel: "system", payload: { type: "ping" } });
    await client.next((frame) => frame.channel === "system" && frame.payload.type === "pong" && frame.id === undefined);

    // A refresh whose claims no longer grant news:* ends that subscription.
    expect((await client.subscribe("news:today")).payload.status).toBe("subscribed");
    expect((await client.request("auth", { token: await token({ sub: "alice" }) })).payload.type).toBe("connected");
    expect((await client.next((frame) => frame.channel === "subscription" && frame.payload.channel === "news:today")).payload).toEqual({
      status: "unsubscribed",
      channel: "news:today",
      reason: "forbidden",
    });
    expect((await client.request("subscription", { action: "unsubscribe", channel: "user:alice:inbox" })).payload.status).toBe("unsubscribed");
    checkReceived();
  });

  test("error frames: bad JSON, a schema failure with details, forbidden, not_found", async () => {
    client.send("{not json");
    expect((await client.next((frame) => frame.channel === "error" && frame.id === undefined)).payload.code).toBe("invalid_json");
    const invalid = await client.subscribe("user:alice", { since: -1 });
    expect(invalid.payload).toMatchObject({ code: "invalid_message", details: ["/payload/since"] });
    expect((await client.subscribe("user:bob")).payload.code).toBe("forbidden");
    expect((await client.request("chat", { action: "stop", message_id: "nope" })).payload.code).toBe("not_found");
    checkReceived();
  });

  test("a run started over REST, with reasoning, on a thread the socket subscribed to", async () => {
    const created = await rest("POST", "/threads", { title: "Colours" });
    expect(created.status).toBe(201);
    expectMatches(ThreadView, created.body);
    const threadId = (created.body as ThreadView).id;
    await client.subscribe(`thread:${threadId}`);

    harness.fake.enqueue(textResponse("Noted.", { reasoning: "The user likes a blue." }));
    const accepted = await rest("POST", `/threads/${threadId}/messages`, { content: "My favourite colour is ultramarine" });
    expect(accepted.status).toBe(202);
    expectMatches(RunAccepted, accepted.body);
    const events = await collectRun(client, (accepted.body as RunAccepted).message_id);
    expect(shape(events)).toContain("reasoning/in_progress");
    expect(events.at(-1)!.payload).toMatchObject({ status: "completed", usage: { prompt_tokens: 10, completion_tokens: 5 } });

    const stored = await storedMessage(threadId, (accepted.body as RunAccepted).message_id, (message) => message.status === "completed");
    expect(stored).toMatchObject({ reasoning: "The user likes a blue.", usage: expect.any(Object) });
    const list = await rest("GET", "/threads");
    expectMatches(ThreadList, list.body);
    checkReceived();
  });

  test("a chat send whose tool waits for approval, then approve; sources; reasoning; completed", async () => {
    harness.fake.enqueue(
      toolCallResponse([
        { id: "calc1", name: "calculator", arguments: { expression: "2^10" } },
        { id: "find1", name: "search_history", arguments: { query: "ultramarine" } },
      ]),
      textResponse("1024, and ultramarine.", { reasoning: "Both are known now." }),
    );
    const ack = await send(client, "What is 2^10, and which colour did I like?");
    await client.next((frame) => frame.payload.message_id === ack.message_id && frame.payload.status === "awaiting_approval");
    const waiting = await storedMessage(ack.thread_id, ack.message_id, (message) => message.status === "awaiting_approval");
    expect(waiting.tool_calls).toEqual([{ call_id: "calc1", name: "calculator", arguments: { expression: "2^10" }, status: "awaiting_approval" }]);

    expect((await client.request("chat", { action: "approve", message_id: ack.message_id, call_id: "calc1" })).payload).toEqual({
      status: "approved",
      message_id: ack.message_id,
      call_id: "calc1",
    });
    const events = await collectRun(client, ack.message_id);
    expect(shape(events)).toEqual(expect.arrayContaining(["tool/done", "sources/in_progress", "reasoning/in_progress", "response/completed"]));
    const stored = await storedMessage(ack.thread_id, ack.message_id, (message) => message.status === "completed");
    expect(stored.tool_calls.map((call: { status: string }) => call.status)).toEqual(["done", "done"]);
    expect(stored.sources.length).toBeGreaterThan(0);
    checkReceived();
  });

  test("a stopped run, then a run the model fails", async () => {
    harness.fake.enqueue(textResponse("word ".repeat(200), { chunkSize: 5, delayMs: 10 }));
    const stopped = await send(client, "talk slowly");
    await client.next((frame) => frame.payload.message_id === stopped.message_id && frame.payload.type === "response");
    expect((await client.request("chat", { action: "stop", message_id: stopped.message_id })).payload).toEqual({ status: "stopping", message_id: stopped.message_id });
    expect((await collectRun(client, stopped.message_id)).at(-1)!.payload.status).toBe("cancelled");

    harness.fake.enqueue(errorResponse(500), errorResponse(500), errorResponse(500), errorResponse(500));
    const failed = await send(client, "fail please", { thread_id: stopped.thread_id });
    expect(shape(await collectRun(client, failed.message_id))).toEqual(["status/started", "error/error"]);
    const stored = await storedMessage(failed.thread_id, failed.message_id, (message) => message.status === "error");
    expect(stored.error).toMatchObject({ message: expect.any(String) });
    checkReceived();
  });

  test("REST errors: 404, 400 with details, bad JSON and 401 bodies are ErrorPayloads", async () => {
    const thread = (await rest("POST", "/threads", {})).body as ThreadView;
    const answers = {
      not_found: await rest("GET", "/threads/nope/messages"),
      invalid_message: await rest("POST", `/threads/${thread.id}/messages`, { content: "" }),
      invalid_json: await rest("POST", `/threads/${thread.id}/messages`, "{oops"),
      unauthorized: await rest("GET", "/threads", undefined, { anonymous: true }),
    };
    for (const [code, answer] of Object.entries(answers)) {
      expectMatches(ErrorPayload, answer.body);
      expect((answer.body as ErrorPayload).code).toBe(code as ErrorPayload["code"]);
    }
    expect(Object.values(answers).map((answer) => answer.status)).toEqual([404, 400, 400, 401]);
    expect((answers.invalid_message.body as ErrorPayload).details?.length).toBeGreaterThan(0);
  });

  test("shutdown", async () => {
    serverStopped = true;
    await harness.stop();
    expect((await client.closed).code).toBe(1001);
    checkReceived();
    expect(seen).toContain("ShutdownFrame");
  });

  test("the session met every kind of server frame and every chat ack", () => {
    for (const name of Object.keys(FRAME_SCHEMAS)) expect(seen).toContain(name);
    for (const status of ["accepted", "approved", "stopping"]) expect(seen).toContain(`chat ${status}`);
    for (const code of ["invalid_json", "invalid_message", "forbidden", "not_found"]) expect(seen).toContain(`error ${code}`);
    for (const event of ["tool/awaiting_approval", "sources/in_progress", "reasoning/in_progress", "response/cancelled", "error/error"]) {
      expect(seen).toContain(`event ${event}`);
    }
  });
});
