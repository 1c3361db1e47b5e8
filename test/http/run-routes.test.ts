// Run control over REST (docs/protocol.md section 10.6): stop, approve and reject, owner only, as the
// socket's chat actions do; a client watching over SSE needs no socket to control its run.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { textResponse, toolCallResponse } from "../helpers/fake-openai.ts";
import { collectRun, send, startAgentHarness, type AgentHarness } from "../helpers/runs.ts";
import { waitFor } from "../helpers/wait.ts";
import { connectAs, type TestClient } from "../helpers/ws-client.ts";

let harness: AgentHarness;
let alice: TestClient;
let aliceToken: string;
let malloryToken: string;

beforeAll(async () => {
  harness = await startAgentHarness({ TOOLS_REQUIRE_APPROVAL: "calculator" });
  aliceToken = await harness.server.token({ sub: "alice" });
  malloryToken = await harness.server.token({ sub: "mallory" });
  alice = await connectAs(harness.server.wsUrl, aliceToken);
});
afterAll(async () => {
  alice.close();
  await harness.stop();
});

function post(path: string, token: string, body?: unknown): Promise<Response> {
  return fetch(`${harness.server.httpUrl}${path}`, {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, ...(body === undefined ? {} : { "content-type": "application/json" }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
}

const isEvent = (messageId: string, status: string) => (frame: { payload: Record<string, unknown> }) =>
  frame.payload.message_id === messageId && frame.payload.status === status;

describe("POST /threads/:id/stop", () => {
  test("stops the active run: 202 with its message id, the model request aborted, the run cancelled", async () => {
    harness.fake.enqueue(textResponse("word ".repeat(300), { chunkSize: 5, delayMs: 10 }));
    const ack = await send(alice, "talk slowly");
    await alice.next((frame) => frame.payload.message_id === ack.message_id && frame.payload.type === "response");
    // Another user's thread answers as an unknown one.
    const foreign = await post(`/threads/${ack.thread_id}/stop`, malloryToken);
    expect(foreign.status).toBe(404);
    expect((await foreign.json()).code).toBe("not_found");
    const stopped = await post(`/threads/${ack.thread_id}/stop`, aliceToken);
    expect(stopped.status).toBe(202);
    expect(await stopped.json()).toEqual({ status: "stopping", message_id: ack.message_id });
    const final = (await collectRun(alice, ack.message_id)).at(-1)!.payload;
    expect(final).toMatchObject({ type: "response", status: "cancelled", final_message: true });
    await waitFor(() => harness.fake.requests.at(-1)!.aborted, "the fake to see the request aborted");
  });

  test("404 when no run is active, or when message_id names another run", async () => {
    harness.fake.enqueue(textResponse("done"));
    const ack = await send(alice, "quick");
    await collectRun(alice, ack.message_id);
    expect((await post(`/threads/${ack.thread_id}/stop`, aliceToken)).status).toBe(404);
    harness.fake.enqueue(textResponse("word ".repeat(300), { chunkSize: 5, delayMs: 10 }));
    const running = await send(alice, "again", { thread_id: ack.thread_id });
    // Stopped once streaming, so that its scripted answer is used up and not left for the next test.
    await alice.next((frame) => frame.payload.message_id === running.message_id && frame.payload.type === "response");
    const wrong = await post(`/threads/${ack.thread_id}/stop`, aliceToken, { message_id: ack.message_id });
    expect(wrong.status).toBe(404);
    expect((await post(`/threads/${ack.thread_id}/stop`, aliceToken, { message_id: running.message_id })).status).toBe(202);
    await collectRun(alice, running.message_id);
  });

  test("a bad body is 400 and no token is 401, before anything is read", async () => {
    expect((await post("/threads/t/stop", aliceToken, { message_id: 5 })).status).toBe(400);
    expect((await fetch(`${harness.server.httpUrl}/threads/t/stop`, { method: "POST" })).status).toBe(401);
  });
});

describe("POST /threads/:id/approve and /reject", () => {
  test("approve lets the waiting tool run and the run completes", async () => {
    harness.fake.enqueue(toolCallResponse([{ id: "calc-rest-1", name: "calculator", arguments: { expression: "6*7" } }]));
    const ack = await send(alice, "what is 6*7?");
    await alice.next(isEvent(ack.message_id, "awaiting_approval"));
    // Not on another thread, not for another user.
    harness.fake.enqueue(textResponse("elsewhere"));
    const other = await send(alice, "a second thread");
    await collectRun(alice, other.message_id);
    harness.fake.enqueue(textResponse("42"));
    const misplaced = await post(`/threads/${other.thread_id}/approve`, aliceToken, { message_id: ack.message_id, call_id: "calc-rest-1" });
    expect(misplaced.status).toBe(404);
    const foreign = await post(`/threads/${ack.thread_id}/approve`, malloryToken, { message_id: ack.message_id, call_id: "calc-rest-1" });
    expect(foreign.status).toBe(404);
    const approved = await post(`/threads/${ack.thread_id}/approve`, aliceToken, { message_id: ack.message_id, call_id: "calc-rest-1" });
    expect(approved.status).toBe(200);
    expect(await approved.json()).toEqual({ status: "approved", message_id: ack.message_id, call_id: "calc-rest-1" });
    const events = await collectRun(alice, ack.message_id);
    expect(events.some((event) => event.payload.type === "tool" && event.payload.status === "done")).toBe(true);
    expect(events.at(-1)!.payload).toMatchObject({ status: "completed", message: "42" });
  });

  test("reject with a reason: the tool is rejected and the model is told; an unknown call is 404", async () => {
    harness.fake.enqueue(toolCallResponse([{ id: "calc-rest-2", name: "calculator", arguments: { expression: "1/0" } }]), textResponse("fine"));
    const ack = await send(alice, "divide");
    await alice.next(isEvent(ack.message_id, "awaiting_approval"));
    const unknown = await post(`/threads/${ack.thread_id}/reject`, aliceToken, { message_id: ack.message_id, call_id: "nope" });
    expect(unknown.status).toBe(404);
    const rejected = await post(`/threads/${ack.thread_id}/reject`, aliceToken, { message_id: ack.message_id, call_id: "calc-rest-2", reason: "not now" });
    expect(await rejected.json()).toEqual({ status: "rejected", message_id: ack.message_id, call_id: "calc-rest-2" });
    const events = await collectRun(alice, ack.message_id);
    expect(events.find((event) => event.payload.type === "tool" && event.payload.status === "rejected")).toBeDefined();
    expect(JSON.stringify(harness.fake.requests.at(-1)!.body)).toContain("not now");
  });
});
