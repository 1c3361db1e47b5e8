// Agent runs over the socket against the fake OpenAI server: the event sequences of docs/protocol.md section 6.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { errorResponse, textResponse, toolCallResponse, cutResponse } from "../helpers/fake-openai.ts";
import { FAKE_API_KEY, collectRun, deltas, send, shape, startAgentHarness, type AgentHarness } from "../helpers/runs.ts";
import { connectAs, type TestClient } from "../helpers/ws-client.ts";

let harness: AgentHarness;
let alice: TestClient;
beforeAll(async () => {
  harness = await startAgentHarness({ SYSTEM_PROMPT: "Be brief." });
  alice = await connectAs(harness.server.wsUrl, await harness.server.token({ sub: "alice" }));
});
afterAll(async () => {
  alice.close();
  await harness.stop();
});

describe("a plain answer", () => {
  test("ack, thread subscription before the first event, started → responding → deltas → completed", async () => {
    harness.fake.enqueue(textResponse("The answer is forty-two.", { chunkSize: 3 }));
    const ack = await send(alice, "What is the answer?");
    expect(ack).toEqual({
      status: "accepted",
      thread_id: expect.any(String),
      user_message_id: expect.any(String),
      message_id: expect.any(String),
      channel: `thread:${ack.thread_id}`,
    });
    const subscribed = await alice.next((frame) => frame.channel === "subscription" && frame.payload.channel === ack.channel);
    expect(subscribed.payload).toMatchObject({ status: "subscribed", seq: 0 });
    const events = await collectRun(alice, ack.message_id);
    expect(shape(events)).toEqual([
      "status/started",
      "status/responding",
      ...events.slice(2, -1).map(() => "response/in_progress"),
      "response/completed",
    ]);
    expect(events.map((event) => event.seq)).toEqual(events.map((_, index) => index + 1));
    expect(deltas(events, "response")).toBe("The answer is forty-two.");
    const final = events.at(-1)!.payload;
    expect(final).toMatchObject({ message: "The answer is forty-two.", final_message: true, usage: { prompt_tokens: 10, completion_tokens: 5 } });
    for (const event of events) {
      expect(event.payload).toMatchObject({ message_id: ack.message_id, thread_id: ack.thread_id, timestamp: expect.any(Number) });
      expect(event.payload.final_message).toBe(event === events.at(-1));
    }
    const request = harness.fake.requests.at(-1)!.body;
    expect(request).toMatchObject({ model: "fake-model", stream: true, stream_options: { include_usage: true } });
    expect(request.messages).toEqual([
      { role: "system", content: "Be brief." },
      { role: "user", content: "What is the answer?" },
    ]);
    expect((request.tools ?? []).map((tool) => (tool.function as { name: string }).name).sort()).toEqual(["calculator", "current_time", "search_history"]);
  });

  test("a second send on a thread the connection holds keeps its subscription: no new announcement, seqs go on", async () => {
    harness.fake.enqueue(textResponse("First."), textResponse("Second."));
    const first = await send(alice, "One");
    const firstEvents = await collectRun(alice, first.message_id);
    alice.drain();
    const second = await send(alice, "Two", { thread_id: first.thread_id });
    const secondEvents = await collectRun(alice, second.message_id);
    expect(alice.drain((frame) => frame.channel === "subscription")).toEqual([]);
    const seqs = [...firstEvents, ...secondEvents].map((event) => event.seq);
    expect(seqs).toEqual(seqs.map((_, index) => index + 1));
    expect(secondEvents.at(-1)!.payload).toMatchObject({ status: "completed", message: "Second." });
  });

  test("deltas are coalesced: a fast model does not cost one frame per token", async () => {
    harness.fake.enqueue(textResponse("x".repeat(400), { chunkSize: 1 }));
    const ack = await send(alice, "long please");
    const events = await collectRun(alice, ack.message_id);
    const frames = events.filter((event) => event.payload.type === "response" && event.payload.status === "in_progress");
    expect(frames.length).toBeLessThan(100);
    expect(deltas(events, "response")).toBe("x".repeat(400));
  });

  test("no usage reported means no usage field", async () => {
    harness.fake.enqueue(textResponse("ok", { usage: null }));
    const ack = await send(alice, "hi");
    const final = (await collectRun(alice, ack.message_id)).at(-1)!;
    expect(final.payload.usage).toBeUndefined();
  });
});

describe("reasoning", () => {
  test("reasoning deltas (reasoning_content or reasoning) come after responding and before the answer", async () => {
    for (const reasoningField of ["reasoning_content", "reasoning"] as const) {
      harness.fake.enqueue(textResponse("Four.", { reasoning: "Two plus two is four.", reasoningField }));
      const ack = await send(alice, "2+2 in words?");
      const events = await collectRun(alice, ack.message_id);
      expect(shape(events).slice(0, 3)).toEqual(["status/started", "status/responding", "reasoning/in_progress"]);
      expect(deltas(events, "reasoning")).toBe("Two plus two is four.");
      expect(deltas(events, "response")).toBe("Four.");
      expect(events.at(-1)!.payload.message).toBe("Four.");
    }
  });

  test("use_reasoning: false publishes no reasoning", async () => {
    harness.fake.enqueue(textResponse("Four.", { reasoning: "secret thoughts" }));
    const ack = await send(alice, "2+2?", { use_reasoning: false });
    const events = await collectRun(alice, ack.message_id);
    expect(events.some((event) => event.payload.type === "reasoning")).toBe(false);
    expect(shape(events)[1]).toBe("status/responding");
  });
});

describe("tools", () => {
  test("a tool call with arguments split over chunks: processing, done, then the answer; the model gets the result", async () => {
    harness.fake.enqueue(
      toolCallResponse([{ id: "c1", name: "calculator", arguments: { expression: "6 * (3 + 4)" } }], { splitArguments: true }),
      textResponse("It is 42."),
    );
    const ack = await send(alice, "6*(3+4)?");
    const events = await collectRun(alice, ack.message_id);
    expect(shape(events)).toEqual([
      "status/started",
      "tool/processing",
      "tool/done",
      "status/responding",
      ...events.slice(4, -1).map(() => "response/in_progress"),
      "response/completed",
    ]);
    expect(events[1]!.payload.tool).toEqual({ call_id: "c1", name: "calculator", arguments: { expression: "6 * (3 + 4)" } });
    expect(events[2]!.payload.tool).toEqual({ call_id: "c1", name: "calculator", arguments: { expression: "6 * (3 + 4)" }, result: "42" });
    const followUp = harness.fake.requests.at(-1)!.body.messages;
    expect(followUp.at(-2)).toMatchObject({ role: "assistant", tool_calls: [{ id: "c1", function: { name: "calculator" } }] });
    expect(followUp.at(-1)).toEqual({ role: "tool", tool_call_id: "c1", content: "42" });
    expect(events.at(-1)!.payload.message).toBe("It is 42.");
  });

  test("several interleaved tool calls in one turn, one without an id, run in order", async () => {
    harness.fake.enqueue(
      toolCallResponse(
        [
          { id: null, name: "calculator", arguments: { expression: "1+1" } },
          { id: "t2", name: "current_time", arguments: {} },
        ],
        { splitArguments: 2, interleave: true },
      ),
      textResponse("done"),
    );
    const ack = await send(alice, "two tools");
    const tools = (await collectRun(alice, ack.message_id)).filter((event) => event.payload.type === "tool");
    expect(tools.map((event) => `${event.payload.tool.name}/${event.payload.status}`)).toEqual([
      "calculator/processing",
      "calculator/done",
      "current_time/processing",
      "current_time/done",
    ]);
    expect(tools[1]!.payload.tool.result).toBe("2");
    expect(tools[0]!.payload.tool.call_id).toBeTruthy();
    expect(Number.isNaN(Date.parse(tools[3]!.payload.tool.result))).toBe(false);
  });

  test("invalid arguments: failed with the error, and the model is told", async () => {
    harness.fake.enqueue(toolCallResponse([{ id: "bad", name: "calculator", arguments: "{not json" }]), textResponse("sorry"));
    const ack = await send(alice, "break it");
    const events = await collectRun(alice, ack.message_id);
    const failed = events.find((event) => event.payload.status === "failed")!;
    expect(failed.payload.tool).toMatchObject({ call_id: "bad", name: "calculator", arguments: "{not json", error: expect.stringContaining("invalid arguments") });
    const told = harness.fake.requests.at(-1)!.body.messages.at(-1)!;
    expect(told).toMatchObject({ role: "tool", tool_call_id: "bad", content: expect.stringContaining("invalid arguments") });
    expect(events.at(-1)!.payload.status).toBe("completed");
  });

  test("a tool error (division by zero) is failed with its message", async () => {
    harness.fake.enqueue(toolCallResponse([{ id: "z", name: "calculator", arguments: { expression: "1/0" } }]), textResponse("cannot"));
    const ack = await send(alice, "1/0");
    const failed = (await collectRun(alice, ack.message_id)).find((event) => event.payload.status === "failed")!;
    expect(failed.payload.tool.error).toBe("division by zero");
  });

  test("search_history returns the caller's own messages as sources", async () => {
    harness.fake.enqueue(textResponse("Noted."));
    await collectRun(alice, (await send(alice, "My favourite colour is ultramarine")).message_id);
    harness.fake.enqueue(toolCallResponse([{ id: "s", name: "search_history", arguments: { query: "ultramarine" } }]), textResponse("Ultramarine."));
    const ack = await send(alice, "what colour did I like?");
    const events = await collectRun(alice, ack.message_id);
    const sources = events.find((event) => event.payload.type === "sources")!;
    expect(sources.payload.status).toBe("in_progress");
    expect(sources.payload.sources[0]).toMatchObject({ id: expect.any(String), title: "My favourite colour is ultramarine" });
    expect(shape(events)).toContain("tool/done");
  });

  test("more tool rounds than MAX_TOOL_ROUNDS end the run with an error", async () => {
    const limited = await startAgentHarness({ MAX_TOOL_ROUNDS: "2" });
    try {
      limited.fake.setDefault(toolCallResponse([{ name: "current_time", arguments: {} }]));
      const client = await connectAs(limited.server.wsUrl, await limited.server.token({ sub: "alice" }));
      const ack = await send(client, "loop forever");
      const events = await collectRun(client, ack.message_id);
      expect(events.at(-1)!.payload).toMatchObject({ type: "error", status: "error", final_message: true });
      expect(events.at(-1)!.payload.message).toContain("2 tool rounds");
      expect(limited.fake.requests).toHaveLength(3);
      client.close();
    } finally {
      await limited.stop();
    }
  });
});

describe("model failures", () => {
  test("500s until retries run out: one error event that names the failure and leaks no key", async () => {
    harness.fake.enqueue(errorResponse(500), errorResponse(500), errorResponse(500), errorResponse(500));
    const before = harness.fake.requests.length;
    const ack = await send(alice, "fail please");
    const events = await collectRun(alice, ack.message_id);
    expect(shape(events)).toEqual(["status/started", "error/error"]);
    expect(events[1]!.payload.message).toContain("500");
    expect(events[1]!.payload.error_details).toMatchObject({ source: "model", status: 500 });
    expect(JSON.stringify(events)).not.toContain(FAKE_API_KEY);
    expect(harness.fake.requests.length - before).toBe(4);
  });

  test("429 then success completes", async () => {
    harness.fake.enqueue(errorResponse(429, { retryAfter: "0" }), textResponse("after retry"));
    const ack = await send(alice, "retry");
    expect((await collectRun(alice, ack.message_id)).at(-1)!.payload).toMatchObject({ status: "completed", message: "after retry" });
  });

  test("a stream cut in the middle ends in error, keeping the partial text stored", async () => {
    harness.fake.enqueue(cutResponse(4, textResponse("partial answer that never finishes", { chunkSize: 4, delayMs: 5 })));
    const ack = await send(alice, "cut");
    const events = await collectRun(alice, ack.message_id);
    expect(events.at(-1)!.payload).toMatchObject({ type: "error", status: "error" });
    const partial = deltas(events, "response");
    expect(partial.length).toBeGreaterThan(0);
    const response = await fetch(`${harness.server.httpUrl}/threads/${ack.thread_id}/messages`, {
      headers: { authorization: `Bearer ${await harness.server.token({ sub: "alice" })}` },
    });
    const stored = (await response.json()).messages.find((message: { id: string }) => message.id === ack.message_id);
    expect(stored).toMatchObject({ status: "error", content: partial, error: { message: expect.any(String) } });
  });
});
