// The AI SDK transport (docs/protocol.md section 11) on a two-node Redis/PostgreSQL cluster: a run
// started on node A is picked up with reconnectToStream on node B, and an approval answered with
// addToolApprovalResponse through node B reaches the run that node A holds.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { isToolUIPart, lastAssistantMessageIsCompleteWithApprovalResponses, type FinishReason, type UIMessage, type UIMessageChunk } from "ai";
import { startCluster, type Cluster } from "../helpers/cluster.ts";
import { textResponse, toolCallResponse } from "../helpers/fake-openai.ts";
import { explainSkip } from "../helpers/services.ts";
import { waitFor } from "../helpers/wait.ts";
import {
  TestChat,
  bearer,
  chatTransport,
  expectSameAsStored,
  expectWellFormedStream,
  follow,
  sendText,
  storedMessages,
  textOf,
  typesOf,
} from "../transport/ai-sdk/ai-sdk-kit.ts";

const skip = explainSkip("the AI SDK cluster tests", ["redis", "postgres"]);

const messageIdOf = (chunks: UIMessageChunk[]) => (chunks.find((chunk) => chunk.type === "start") as { messageId: string }).messageId;
const awaitsApproval = (message: UIMessage | undefined) => message?.parts.some((part) => isToolUIPart(part) && part.state === "approval-requested") === true;
const count = (chunks: UIMessageChunk[], type: UIMessageChunk["type"]) => chunks.filter((chunk) => chunk.type === type).length;

describe.skipIf(skip)("the AI SDK transport across two nodes", () => {
  let cluster: Cluster;
  let nodeA: string;
  let nodeB: string;
  let token: string;
  const activeRuns = () => cluster.nodes.map((node) => node.app.agent.activeRuns);

  beforeAll(async () => {
    cluster = await startCluster(2, { TOOLS_REQUIRE_APPROVAL: "calculator" });
    nodeA = cluster.nodes[0]!.httpUrl;
    nodeB = cluster.nodes[1]!.httpUrl;
    // Every node shares the JWT secret: one token for both.
    token = await cluster.nodes[0]!.token({ sub: "alice" });
  });
  afterAll(() => cluster?.stop());

  const stop = async (baseUrl: string, chatId: string) =>
    expect((await fetch(`${baseUrl}/threads/${chatId}/stop`, { method: "POST", headers: bearer(token) })).status).toBe(202);
  const runsReleased = () => waitFor(() => activeRuns().every((runs) => runs === 0), "every node to release its runs");

  test("a run streaming on node A, picked up on node B mid-answer: the whole answer once, stopped from node B", async () => {
    const text = "A long answer that node A streams three characters at a time while node B picks it up.";
    const onA = chatTransport(nodeA, token);
    const onB = chatTransport(nodeB, token);
    const chatId = crypto.randomUUID();
    cluster.fake.enqueue(textResponse(text, { chunkSize: 3, delayMs: 5, ending: "stall" }));
    const first = follow(await sendText(onA.transport, chatId, "Talk"));
    await waitFor(() => textOf(first.message).length > 0, "the first text on node A");
    expect(activeRuns()).toEqual([1, 0]);

    // Picked up on node B while node A still streams: stored snapshot, history, then live, joined.
    const resumed = await onB.transport.reconnectToStream({ chatId });
    expect(resumed).not.toBeNull();
    const second = follow(resumed!);
    await waitFor(() => textOf(second.message) === text && textOf(first.message) === text, "the whole answer on both nodes");
    expect(second.message!.id).toBe(messageIdOf(first.chunks));
    expect(activeRuns()).toEqual([1, 0]);

    await stop(nodeB, chatId);
    await Promise.all([first.ended, second.ended]);
    const stored = (await storedMessages(nodeB, token, chatId)).messages.at(-1)!;
    expect(stored).toMatchObject({ status: "cancelled", content: text });
    for (const stream of [first, second]) {
      expect(stream.errors).toEqual([]);
      expect(count(stream.chunks, "start")).toBe(1);
      expect(count(stream.chunks, "text-start")).toBe(1);
      expect(typesOf(stream.chunks).at(-1)).toBe("abort");
      expectSameAsStored(stream.message, stored);
    }
    expectWellFormedStream(await onB.responses[0]!.body);
    await runsReleased();
  });

  test("a run waiting for approval on node A: node B's reconnect pauses at the request; approved on node B, a reconnect there streams the rest once", async () => {
    const onA = chatTransport(nodeA, token);
    const onB = chatTransport(nodeB, token);
    const chatId = crypto.randomUUID();
    cluster.fake.enqueue(
      toolCallResponse([{ id: "call_mul", name: "calculator", arguments: { expression: "6*7" } }], { text: "Let me compute. " }),
      textResponse("It is 42.", { ending: "stall" }),
    );
    const first = follow(await sendText(onA.transport, chatId, "What is 6*7?"));
    await first.ended;
    expect(awaitsApproval(first.message)).toBe(true);
    expect(activeRuns()).toEqual([1, 0]);

    const paused = follow((await onB.transport.reconnectToStream({ chatId }))!);
    await paused.ended;
    expect(paused.errors).toEqual([]);
    expect(awaitsApproval(paused.message)).toBe(true);
    expect(textOf(paused.message)).toBe("Let me compute. ");
    expect(paused.chunks.at(-1)).toEqual({ type: "finish", finishReason: "tool-calls" });
    const messageId = messageIdOf(paused.chunks);
    expect(messageId).toBe(messageIdOf(first.chunks));

    const approve = await fetch(`${nodeB}/threads/${chatId}/approve`, {
      method: "POST",
      headers: { ...bearer(token), "content-type": "application/json" },
      body: JSON.stringify({ message_id: messageId, call_id: "call_mul" }),
    });
    expect(approve.status).toBe(200);
    const rest = follow((await onB.transport.reconnectToStream({ chatId }))!);
    await waitFor(() => textOf(rest.message) === "Let me compute. It is 42.", "the rest of the run on node B");
    expect(rest.message!.parts.find(isToolUIPart)).toMatchObject({ toolCallId: "call_mul", state: "output-available", output: "42" });
    // The run never moved: node A executed the tool and asked the model again.
    expect(activeRuns()).toEqual([1, 0]);
    await stop(nodeB, chatId);
    await rest.ended;
    expect(rest.errors).toEqual([]);
    expect(count(rest.chunks, "start")).toBe(1);
    expect(count(rest.chunks, "tool-input-available")).toBe(1);
    expect(typesOf(rest.chunks).at(-1)).toBe("abort");
    const stored = (await storedMessages(nodeA, token, chatId)).messages[1]!;
    expect(stored.status).toBe("cancelled");
    expectSameAsStored(rest.message, stored);
    expectWellFormedStream(await onB.responses[1]!.body);
    await runsReleased();
  });

  test("AbstractChat: the first turn on node A, then the chat on node B answers the approval with addToolApprovalResponse; node A's run completes", async () => {
    let target = nodeA;
    const { transport, responses } = chatTransport(nodeA, token, {
      prepareSendMessagesRequest: ({ id, messages, trigger, messageId, body }) => ({
        api: `${target}/ai-sdk/chat`,
        body: { ...body, id, messages, trigger, messageId },
      }),
      prepareReconnectToStreamRequest: ({ id }) => ({ api: `${target}/ai-sdk/chat/${id}/stream` }),
    });
    const finishes: (FinishReason | undefined)[] = [];
    const chat = new TestChat({
      id: crypto.randomUUID(),
      transport,
      sendAutomaticallyWhen: lastAssistantMessageIsCompleteWithApprovalResponses,
      onFinish: ({ finishReason }) => finishes.push(finishReason),
    });
    cluster.fake.enqueue(
      toolCallResponse([{ id: "call_mul", name: "calculator", arguments: { expression: "6*7" } }], { text: "Let me compute. " }),
      textResponse("It is 42.", { chunkSize: 2 }),
    );
    const requestsBefore = cluster.fake.requests.length;
    await chat.sendMessage({ text: "What is 6*7?" });
    expect(chat.status).toBe("ready");
    expect(finishes).toEqual(["tool-calls"]);
    expect(chat.lastMessage!.parts.find(isToolUIPart)).toMatchObject({ toolCallId: "call_mul", state: "approval-requested" });
    // The wait is checkpointed just after its event is published: read on node B once it is stored.
    await waitFor(async () => (await storedMessages(nodeB, token, chat.id)).messages[1]!.status === "awaiting_approval", "the stored wait");
    expect(activeRuns()).toEqual([1, 0]);

    target = nodeB;
    await chat.addToolApprovalResponse({ id: "call_mul", approved: true });
    await waitFor(() => finishes.length === 2 && chat.status === "ready", "the rest of the run through node B");
    expect(chat.error).toBeUndefined();
    expect(finishes).toEqual(["tool-calls", "stop"]);
    expect(responses.map((response) => [new URL(response.url).origin, new URL(response.url).pathname, response.status])).toEqual([
      [new URL(nodeA).origin, "/ai-sdk/chat", 200],
      [new URL(nodeB).origin, "/ai-sdk/chat", 200],
    ]);
    for (const response of responses) expectWellFormedStream(await response.body);
    expect(chat.messages.map((message) => message.role)).toEqual(["user", "assistant"]);
    expect(textOf(chat.lastMessage)).toBe("Let me compute. It is 42.");
    expect(chat.lastMessage!.parts.find(isToolUIPart)).toMatchObject({ state: "output-available", output: "42", approval: { id: "call_mul", approved: true } });
    const stored = await storedMessages(nodeA, token, chat.id);
    expect(stored.messages.map((message) => [message.role, message.status])).toEqual([
      ["user", "completed"],
      ["assistant", "completed"],
    ]);
    expectSameAsStored(chat.lastMessage, stored.messages[1]!);
    // The model was asked twice, the second time with the tool's result: the approval reached the run.
    expect(cluster.fake.requests.length).toBe(requestsBefore + 2);
    expect(cluster.fake.requests.at(-1)!.body.messages.find((message) => message.role === "tool")).toMatchObject({ content: "42" });
    await runsReleased();
  });
});
