// The AI SDK's own AbstractChat (what useChat wraps) over DefaultChatTransport against agentwire
// (docs/protocol.md section 11): approvals answered with addToolApprovalResponse, a conversation
// of several turns, and regenerate, each checked against GET /threads/:id/messages.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { isToolUIPart, lastAssistantMessageIsCompleteWithApprovalResponses, type FinishReason, type UIMessage } from "ai";
import { textResponse, toolCallResponse } from "../../helpers/fake-openai.ts";
import { startAgentHarness, type AgentHarness } from "../../helpers/runs.ts";
import { waitFor } from "../../helpers/wait.ts";
import { TestChat, chatTransport, expectSameAsStored, expectWellFormedStream, storedMessages, textOf } from "./ai-sdk-kit.ts";

let harness: AgentHarness;
let baseUrl: string;
let token: string;

beforeAll(async () => {
  harness = await startAgentHarness({ TOOLS_REQUIRE_APPROVAL: "calculator" });
  baseUrl = harness.server.httpUrl;
  token = await harness.server.token({ sub: "alice" });
});
afterAll(() => harness.stop());

/** A chat as an app builds it, answering approvals automatically once all are given; its finishes counted. */
function approvingChat() {
  const { transport, responses } = chatTransport(baseUrl, token);
  const finishes: (FinishReason | undefined)[] = [];
  const chat = new TestChat({
    id: crypto.randomUUID(),
    transport,
    sendAutomaticallyWhen: lastAssistantMessageIsCompleteWithApprovalResponses,
    onFinish: ({ finishReason }) => finishes.push(finishReason),
  });
  return { chat, responses, finishes };
}

const toolPartOf = (message: UIMessage | undefined) => message?.parts.find(isToolUIPart);

describe("addToolApprovalResponse", () => {
  test("approved: the stream pauses at the approval request, and the answer's request streams the rest of the run", async () => {
    const { chat, responses, finishes } = approvingChat();
    harness.fake.enqueue(
      toolCallResponse([{ id: "call_mul", name: "calculator", arguments: { expression: "6*7" } }], { text: "Let me compute. " }),
      textResponse("It is 42."),
    );
    await chat.sendMessage({ text: "What is 6*7?" });
    expect(chat.status).toBe("ready");
    expect(finishes).toEqual(["tool-calls"]);
    expect(toolPartOf(chat.lastMessage)).toMatchObject({ toolCallId: "call_mul", state: "approval-requested", approval: { id: "call_mul" } });
    // The waiting status is stored just after the event that announces it: wait for it, not read it at once.
    let waiting = (await storedMessages(baseUrl, token, chat.id)).messages[1]!;
    await waitFor(async () => (waiting = (await storedMessages(baseUrl, token, chat.id)).messages[1]!).status === "awaiting_approval", "the stored approval wait");
    expect(chat.lastMessage!.id).toBe(waiting.id);

    await chat.addToolApprovalResponse({ id: "call_mul", approved: true });
    await waitFor(() => finishes.length === 2 && chat.status === "ready", "the rest of the run");
    expect(chat.error).toBeUndefined();
    expect(finishes).toEqual(["tool-calls", "stop"]);
    const stored = await storedMessages(baseUrl, token, chat.id);
    expect(stored.messages.map((message) => [message.role, message.status])).toEqual([
      ["user", "completed"],
      ["assistant", "completed"],
    ]);
    // One assistant message, continued by the second request.
    expect(chat.messages.map((message) => message.role)).toEqual(["user", "assistant"]);
    expect(textOf(chat.lastMessage)).toBe("Let me compute. It is 42.");
    expect(toolPartOf(chat.lastMessage)).toMatchObject({ state: "output-available", output: "42", approval: { id: "call_mul", approved: true } });
    expectSameAsStored(chat.lastMessage, stored.messages[1]!);
    expect(responses.map((response) => [new URL(response.url).pathname, response.status])).toEqual([
      ["/ai-sdk/chat", 200],
      ["/ai-sdk/chat", 200],
    ]);
    for (const response of responses) expectWellFormedStream(await response.body);
    await waitFor(() => harness.server.app.gateway.connectionCount === 0, "the streams to be released");
  });

  test("denied with a reason: the call is rejected with it, and the run goes on without it", async () => {
    const { chat, finishes } = approvingChat();
    harness.fake.enqueue(toolCallResponse([{ id: "call_no", name: "calculator", arguments: { expression: "1+1" } }]), textResponse("Fine, I will not."));
    await chat.sendMessage({ text: "What is 1+1?" });
    expect(toolPartOf(chat.lastMessage)).toMatchObject({ state: "approval-requested" });

    await chat.addToolApprovalResponse({ id: "call_no", approved: false, reason: "not now" });
    await waitFor(() => finishes.length === 2 && chat.status === "ready", "the rest of the run");
    expect(chat.error).toBeUndefined();
    expect(toolPartOf(chat.lastMessage)).toMatchObject({ state: "output-denied", approval: { id: "call_no", approved: false, reason: "not now" } });
    expect(textOf(chat.lastMessage)).toBe("Fine, I will not.");
    const stored = (await storedMessages(baseUrl, token, chat.id)).messages[1]!;
    expect(stored.tool_calls).toEqual([expect.objectContaining({ call_id: "call_no", status: "rejected", error: "not now" })]);
    expectSameAsStored(chat.lastMessage, stored);
    const toolMessage = harness.fake.requests.at(-1)!.body.messages.find((message) => message.role === "tool");
    expect(String(toolMessage?.content)).toContain("not now");
  });

  test("an answer for a run that no longer waits is refused, and the chat shows the error", async () => {
    const { chat, finishes } = approvingChat();
    harness.fake.enqueue(toolCallResponse([{ id: "call_gone", name: "calculator", arguments: { expression: "2*2" } }]));
    await chat.sendMessage({ text: "What is 2*2?" });
    expect(finishes).toEqual(["tool-calls"]);
    const stop = await fetch(`${baseUrl}/threads/${chat.id}/stop`, { method: "POST", headers: { authorization: `Bearer ${token}` } });
    expect(stop.status).toBe(202);
    await waitFor(async () => (await storedMessages(baseUrl, token, chat.id)).messages[1]!.status === "cancelled", "the run to be stopped");
    await chat.addToolApprovalResponse({ id: "call_gone", approved: true });
    await waitFor(() => chat.status === "error", "the refused answer");
    expect(chat.error?.message).toMatch(/no active run/);
  });
});

describe("a conversation", () => {
  test("two turns: after each, the chat's messages are the stored thread's", async () => {
    const { transport } = chatTransport(baseUrl, token);
    const chat = new TestChat({ id: crypto.randomUUID(), transport });
    harness.fake.enqueue(textResponse("Nice to meet you, Ada."), textResponse("Your name is Ada."));

    const expectSameAsThread = async (turns: [string, string][]) => {
      expect(chat.status).toBe("ready");
      expect(chat.error).toBeUndefined();
      const stored = (await storedMessages(baseUrl, token, chat.id)).messages;
      expect(stored.map((message) => [message.role, message.status])).toEqual(turns.flatMap(() => [["user", "completed"], ["assistant", "completed"]]));
      expect(chat.messages.map((message) => [message.role, textOf(message)])).toEqual(turns.flatMap(([question, answer]) => [["user", question], ["assistant", answer]]));
      expect(stored.map((message) => message.content)).toEqual(turns.flat());
      // The assistant messages carry agentwire's ids; the user's keep the chat's own.
      chat.messages.forEach((message, index) => {
        if (message.role === "assistant") expectSameAsStored(message, stored[index]!);
      });
    };

    await chat.sendMessage({ text: "My name is Ada." });
    await expectSameAsThread([["My name is Ada.", "Nice to meet you, Ada."]]);
    await chat.sendMessage({ text: "What is my name?" });
    await expectSameAsThread([
      ["My name is Ada.", "Nice to meet you, Ada."],
      ["What is my name?", "Your name is Ada."],
    ]);
    // The model saw the whole stored conversation.
    expect(harness.fake.requests.at(-1)!.body.messages.filter((message) => message.role !== "system")).toEqual([
      { role: "user", content: "My name is Ada." },
      { role: "assistant", content: "Nice to meet you, Ada." },
      { role: "user", content: "What is my name?" },
    ]);
  });
});

describe("regenerate", () => {
  test("the last question is answered again: the new answer replaces the old one, in the chat, the thread and the model's history", async () => {
    const { transport, responses } = chatTransport(baseUrl, token);
    const chat = new TestChat({ id: crypto.randomUUID(), transport });
    harness.fake.enqueue(textResponse("Nice to meet you, Ada."), textResponse("Why did the chicken cross the road?"), textResponse("Knock knock."));
    await chat.sendMessage({ text: "My name is Ada." });
    await chat.sendMessage({ text: "Tell me a joke." });
    expect(textOf(chat.lastMessage)).toBe("Why did the chicken cross the road?");
    const before = (await storedMessages(baseUrl, token, chat.id)).messages;
    const oldAnswer = before[3]!;

    await chat.regenerate();
    expect(chat.status).toBe("ready");
    expect(chat.error).toBeUndefined();
    expect(chat.messages.map((message) => [message.role, textOf(message)])).toEqual([
      ["user", "My name is Ada."],
      ["assistant", "Nice to meet you, Ada."],
      ["user", "Tell me a joke."],
      ["assistant", "Knock knock."],
    ]);
    const stored = (await storedMessages(baseUrl, token, chat.id)).messages;
    // The question is stored once, as it was; the old answer is gone and the new one is the chat's.
    expect(stored.map((message) => [message.id, message.role, message.status, message.content])).toEqual([
      [before[0]!.id, "user", "completed", "My name is Ada."],
      [before[1]!.id, "assistant", "completed", "Nice to meet you, Ada."],
      [before[2]!.id, "user", "completed", "Tell me a joke."],
      [chat.lastMessage!.id, "assistant", "completed", "Knock knock."],
    ]);
    expect(chat.lastMessage!.id).not.toBe(oldAnswer.id);
    expectSameAsStored(chat.lastMessage, stored[3]!);
    // The model was asked again without the answer it replaces.
    expect(harness.fake.requests.at(-1)!.body.messages.filter((message) => message.role !== "system")).toEqual([
      { role: "user", content: "My name is Ada." },
      { role: "assistant", content: "Nice to meet you, Ada." },
      { role: "user", content: "Tell me a joke." },
    ]);
    const regenerated = responses.at(-1)!;
    expect(regenerated.status).toBe(200);
    expectWellFormedStream(await regenerated.body);
  });

  test("while a run is active on the thread it is 409 conflict, and the thread keeps its messages", async () => {
    const { chat } = approvingChat();
    harness.fake.enqueue(toolCallResponse([{ id: "call_wait", name: "calculator", arguments: { expression: "3*3" } }]));
    await chat.sendMessage({ text: "What is 3*3?" });
    let before = (await storedMessages(baseUrl, token, chat.id)).messages;
    await waitFor(async () => (before = (await storedMessages(baseUrl, token, chat.id)).messages)[1]?.status === "awaiting_approval", "the stored approval wait");
    expect(before.map((message) => message.status)).toEqual(["completed", "awaiting_approval"]);
    const requestsBefore = harness.fake.requests.length;

    await chat.regenerate();
    expect(chat.status).toBe("error");
    expect(chat.error?.message).toMatch(/a run is already active on this thread/);
    expect((await storedMessages(baseUrl, token, chat.id)).messages).toEqual(before);
    expect(harness.fake.requests.length).toBe(requestsBefore);

    const stop = await fetch(`${baseUrl}/threads/${chat.id}/stop`, { method: "POST", headers: { authorization: `Bearer ${token}` } });
    expect(stop.status).toBe(202);
    await waitFor(async () => (await storedMessages(baseUrl, token, chat.id)).messages[1]!.status === "cancelled", "the run to be stopped");
  });
});
