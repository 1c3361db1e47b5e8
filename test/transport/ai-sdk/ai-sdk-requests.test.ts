// What POST /ai-sdk/chat refuses (docs/protocol.md sections 7.2 and 11): the caller before the body,
// then the body's shape, then the thread's owner; a refused request starts and stores nothing.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { textResponse } from "../../helpers/fake-openai.ts";
import { startAgentHarness, type AgentHarness } from "../../helpers/runs.ts";
import { bearer, chatTransport, follow, sendText, userMessage } from "./ai-sdk-kit.ts";

let harness: AgentHarness;
let baseUrl: string;
let token: string;

beforeAll(async () => {
  harness = await startAgentHarness();
  baseUrl = harness.server.httpUrl;
  token = await harness.server.token({ sub: "alice" });
});
afterAll(() => harness.stop());

async function post(body: unknown, headers: Record<string, string> = bearer(token)): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(`${baseUrl}/ai-sdk/chat`, {
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    body: typeof body === "string" ? body : JSON.stringify(body),
  });
  return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

const chat = (overrides: Record<string, unknown> = {}) => ({
  id: crypto.randomUUID(),
  messages: [userMessage("Hello")],
  trigger: "submit-message",
  ...overrides,
});

async function threadStatus(threadId: string): Promise<number> {
  return (await fetch(`${baseUrl}/threads/${threadId}/messages`, { headers: bearer(token) })).status;
}

describe("refusals", () => {
  test("no token, or a bad one, is 401", async () => {
    expect(await post(chat(), {})).toMatchObject({ status: 401, body: { code: "unauthorized" } });
    expect(await post(chat(), { authorization: "Bearer not-a-jwt" })).toMatchObject({ status: 401, body: { code: "unauthorized" } });
  });

  test("a body that is not the transport's shape is 400 invalid_message with the failing paths, and nothing is stored", async () => {
    const id = crypto.randomUUID();
    const refused = await post({ id, content: "hello" });
    expect(refused).toMatchObject({ status: 400, body: { code: "invalid_message", details: expect.arrayContaining(["/messages", "/trigger"]) } });
    expect(await threadStatus(id)).toBe(404);
    for (const body of [
      chat({ messages: [] }),
      chat({ trigger: "send" }),
      chat({ id: "has spaces" }),
      chat({ id: "" }),
      chat({ messages: [{ id: "m", role: "user", parts: "hello" }] }),
      chat({ messages: [{ id: "m", role: "user", parts: [{ type: "text", text: 42 }] }] }),
      chat({ use_reasoning: "yes" }),
      [chat()],
    ]) {
      expect(await post(body)).toMatchObject({ status: 400, body: { code: "invalid_message" } });
    }
    expect(await post("{not json")).toMatchObject({ status: 400, body: { code: "invalid_json" } });
    const text = await fetch(`${baseUrl}/ai-sdk/chat`, { method: "POST", headers: { ...bearer(token), "content-type": "text/plain" }, body: "hi" });
    expect(text.status).toBe(415);
  });

  test("the last message must be the user's with text, or the assistant's with approval responses; regenerate needs a stored thread", async () => {
    const id = crypto.randomUUID();
    const assistantLast = chat({ id, messages: [userMessage("Hi"), { id: "a", role: "assistant", parts: [{ type: "text", text: "Hello" }] }] });
    expect(await post(assistantLast)).toEqual({
      status: 400,
      body: { code: "invalid_message", message: "the last message must be the user's, or the assistant's with approval responses", details: ["/messages/1/role"] },
    });
    // Approval responses for a message that is not one of the caller's on this thread.
    const approval = { type: "tool-calculator", toolCallId: "c", state: "approval-responded", approval: { id: "c", approved: true } };
    expect(await post(chat({ id, messages: [userMessage("Hi"), { id: "a", role: "assistant", parts: [approval] }] }))).toEqual({
      status: 404,
      body: { code: "not_found", message: `no message a on thread ${id}` },
    });
    const noText = chat({ id, messages: [{ id: "u", role: "user", parts: [{ type: "file", url: "data:,x", mediaType: "text/plain" }] }] });
    expect(await post(noText)).toMatchObject({ status: 400, body: { code: "invalid_message", message: "the last message has no text" } });
    // Regenerating answers a stored question again: an unknown thread is not created for it.
    expect(await post(chat({ id, trigger: "regenerate-message", messageId: "a" }))).toEqual({
      status: 404,
      body: { code: "not_found", message: `no thread ${id}` },
    });
    expect(await threadStatus(id)).toBe(404);
  });

  test("another user's thread is 404 as an unknown one would be; the transport reports the failure", async () => {
    const { transport } = chatTransport(baseUrl, token);
    const chatId = crypto.randomUUID();
    harness.fake.enqueue(textResponse("Mine."));
    await follow(await sendText(transport, chatId, "My own thread")).ended;
    const bobToken = await harness.server.token({ sub: "bob" });
    expect(await post(chat({ id: chatId }), bearer(bobToken))).toEqual({ status: 404, body: { code: "not_found", message: `no thread ${chatId}` } });
    const { transport: bobTransport } = chatTransport(baseUrl, bobToken);
    await expect(sendText(bobTransport, chatId, "Let me in")).rejects.toThrow(`no thread ${chatId}`);
    // Nothing was added to alice's thread, and bob's refused requests left no stream behind.
    const stored = (await (await fetch(`${baseUrl}/threads/${chatId}/messages`, { headers: bearer(token) })).json()) as { messages: unknown[] };
    expect(stored.messages).toHaveLength(2);
    expect(harness.server.app.gateway.connectionCount).toBe(0);
  });
});
