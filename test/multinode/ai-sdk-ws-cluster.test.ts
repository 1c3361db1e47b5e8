// The AI SDK's WebSocketChatTransport and regenerate (docs/protocol.md sections 11 and 11.5) on a
// two-node Redis/PostgreSQL cluster: a stream sent on node A is continued after its lastSequence on
// node B, replayed there by the transport's own reconnect and aborted there; a chat answered on node A
// is regenerated through node B.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { textResponse } from "../helpers/fake-openai.ts";
import { startCluster, type Cluster } from "../helpers/cluster.ts";
import { explainSkip } from "../helpers/services.ts";
import { waitFor } from "../helpers/wait.ts";
import {
  TestChat,
  bearer,
  chatTransport,
  expectSameAsStored,
  follow,
  rawWsRequest,
  rebuild,
  sendWsText,
  storedMessages,
  textOf,
  typesOf,
  wsTransport,
} from "../transport/ai-sdk/ai-sdk-kit.ts";

const skip = explainSkip("the AI SDK WebSocket cluster tests", ["redis", "postgres"]);

describe.skipIf(skip)("the AI SDK's WebSocket transport and regenerate across two nodes", () => {
  let cluster: Cluster;
  let nodeA: string;
  let nodeB: string;
  let token: string;
  const activeRuns = () => cluster.nodes.map((node) => node.app.agent.activeRuns);
  const storedStatus = async (chatId: string) => (await storedMessages(nodeB, token, chatId)).messages[1]?.status;

  beforeAll(async () => {
    cluster = await startCluster(2);
    nodeA = cluster.nodes[0]!.httpUrl;
    nodeB = cluster.nodes[1]!.httpUrl;
    token = await cluster.nodes[0]!.token({ sub: "alice" });
  });
  afterAll(() => cluster?.stop());

  test("sent on node A and cut: node B continues after lastSequence exactly once; another user's resume there finds nothing", async () => {
    const text = "An answer node A streams before its socket is cut.";
    const onA = wsTransport(nodeA, token);
    const chatId = crypto.randomUUID();
    cluster.fake.enqueue(textResponse(text, { chunkSize: 3, delayMs: 2, ending: "stall" }));
    const first = follow(await sendWsText(onA.transport, chatId, "Talk"));
    await waitFor(() => textOf(first.message) === text, "the streamed text on node A");
    const before = [...first.chunks];
    onA.sockets[0]!.close();
    await first.ended.catch(() => {});
    expect((await fetch(`${nodeB}/threads/${chatId}/stop`, { method: "POST", headers: bearer(token) })).status).toBe(202);
    await waitFor(async () => (await storedStatus(chatId)) === "cancelled", "the stored cancel");

    // Node B never streamed this request: it writes the same chunks again from the thread's history.
    const lastSequence = before.length - 1;
    const frames = await rawWsRequest(nodeB, token, { type: "resume", requestId: "on-b", id: chatId, lastSequence, headers: {}, body: {} });
    expect(frames[0]).toEqual({ type: "start", requestId: "on-b" });
    expect(frames.at(-1)).toEqual({ type: "end", requestId: "on-b" });
    const rest = frames.slice(1, -1);
    expect(rest.map((frame) => frame.sequence)).toEqual(rest.map((_, index) => lastSequence + 1 + index));
    expect(typesOf(rest.map((frame) => frame.chunk!))).toEqual(["text-end", "finish-step", "abort"]);
    const whole = await rebuild([...before, ...rest.map((frame) => frame.chunk!)]);
    expectSameAsStored(whole, (await storedMessages(nodeB, token, chatId)).messages[1]!);

    // From an earlier chunk, the same chunks again: a resume is a pure function of the stream's origin.
    const again = await rawWsRequest(nodeB, token, { type: "resume", requestId: "again", id: chatId, lastSequence: 2, headers: {}, body: {} });
    expect(again.slice(1, -1).map((frame) => frame.chunk)).toEqual([...before.slice(3), ...rest.map((frame) => frame.chunk!)]);

    const bobToken = await cluster.nodes[1]!.token({ sub: "bob" });
    expect(await rawWsRequest(nodeB, bobToken, { type: "resume", requestId: "bob", id: chatId, lastSequence, headers: {}, body: {} })).toEqual([
      { type: "no-active", requestId: "bob" },
    ]);
  });

  test("the transport's reconnect on node B replays node A's run once, and its abort there stops the run on node A", async () => {
    const text = "Still streaming from node A";
    const onA = wsTransport(nodeA, token);
    const onB = wsTransport(nodeB, token);
    const chatId = crypto.randomUUID();
    const requestsBefore = cluster.fake.requests.length;
    cluster.fake.enqueue(textResponse(text, { chunkSize: 4, ending: "stall" }));
    const first = follow(await sendWsText(onA.transport, chatId, "Go"));
    await waitFor(() => textOf(first.message) === text, "the streamed text on node A");
    onA.sockets[0]!.close();
    await first.ended.catch(() => {});
    expect(activeRuns()).toEqual([1, 0]);

    const controller = new AbortController();
    const resumed = await onB.transport.reconnectToStream({ chatId, abortSignal: controller.signal });
    expect(resumed).not.toBeNull();
    const second = follow(resumed!);
    await waitFor(() => textOf(second.message) === text, "the replayed text on node B");
    // The same chunks as node A sent, from the same start: one assistant message, nothing doubled.
    expect(second.chunks).toEqual(first.chunks);

    controller.abort();
    await second.ended.catch(() => {});
    const request = cluster.fake.requests[requestsBefore]!;
    await waitFor(() => request.aborted, "node A's model request to be aborted");
    await waitFor(async () => (await storedStatus(chatId)) === "cancelled", "the stored cancel");
    await waitFor(() => activeRuns().every((runs) => runs === 0), "every node to release its runs");
    onB.transport.close();
  });

  test("AbstractChat: answered on node A, regenerated through node B: the new answer replaces the old one everywhere", async () => {
    let target = nodeA;
    const { transport } = chatTransport(nodeA, token, {
      prepareSendMessagesRequest: ({ id, messages, trigger, messageId, body }) => ({ api: `${target}/ai-sdk/chat`, body: { ...body, id, messages, trigger, messageId } }),
    });
    const chat = new TestChat({ id: crypto.randomUUID(), transport });
    cluster.fake.enqueue(textResponse("The first answer."), textResponse("The second answer."));
    await chat.sendMessage({ text: "Answer me." });
    const before = (await storedMessages(nodeA, token, chat.id)).messages;
    expect(before.map((message) => message.content)).toEqual(["Answer me.", "The first answer."]);

    target = nodeB;
    await chat.regenerate();
    expect(chat.error).toBeUndefined();
    expect(chat.messages.map((message) => [message.role, textOf(message)])).toEqual([
      ["user", "Answer me."],
      ["assistant", "The second answer."],
    ]);
    for (const node of [nodeA, nodeB]) {
      const stored = (await storedMessages(node, token, chat.id)).messages;
      expect(stored.map((message) => [message.id, message.content])).toEqual([
        [before[0]!.id, "Answer me."],
        [chat.lastMessage!.id, "The second answer."],
      ]);
      expectSameAsStored(chat.lastMessage, stored[1]!);
    }
    expect(chat.lastMessage!.id).not.toBe(before[1]!.id);
    expect(cluster.fake.requests.at(-1)!.body.messages.filter((message) => message.role !== "system")).toEqual([{ role: "user", content: "Answer me." }]);
  });
});
