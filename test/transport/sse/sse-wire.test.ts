// How publications look on an SSE stream (docs/protocol.md section 10), and a run watched over SSE
// read side by side with a WebSocket watcher of the same thread.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { Value } from "@sinclair/typebox/value";
import type { Publication } from "../../../src/broker/broker.ts";
import { SseResetData } from "../../../src/protocol/index.ts";
import { sseWire } from "../../../src/transport/sse/sse-wire.ts";
import { textResponse, toolCallResponse } from "../../helpers/fake-openai.ts";
import { collectRun, send, startAgentHarness, type AgentHarness } from "../../helpers/runs.ts";
import { SseClient, dataOf, parseSse, type SseEvent, type SseItem } from "../../helpers/sse-client.ts";
import { connectAs, type Frame, type TestClient } from "../../helpers/ws-client.ts";
import { bearer, expectWellFormed, publicationsOf, runEventOf, threadEvents } from "./sse-kit.ts";

const publication = (payload: string, seq = 7): Publication => ({ channel: "news", seq, epoch: "E1", payload });

describe("the wire", () => {
  test("a publication is id <epoch>:<seq>, its type as the name, its payload with seq as data", () => {
    const items = parseSse(sseWire.publication(publication('{"type":"note","text":"a\\nb"}')));
    expect(items).toEqual([{ kind: "event", id: "E1:7", event: "note", data: '{"type":"note","text":"a\\nb","seq":7}', unknownFields: [] }]);
    expectWellFormed(items);
  });

  test("without a usable string type the name is publication; a type with a line break cannot forge fields", () => {
    for (const payload of ['{"n":1}', '{"type":3}', '{"type":""}', '{"type":null}', `{"type":"${"t".repeat(65)}"}`, '{"type":"x\\ndata: forged\\n\\nevent: evil"}']) {
      const items = parseSse(sseWire.publication(publication(payload)));
      expect(items).toHaveLength(1);
      expect(items[0]).toMatchObject({ event: "publication", data: `${payload.slice(0, -1)},"seq":7}` });
      expectWellFormed(items);
    }
  });

  test("the seq added last wins over one in the payload; an empty payload gets seq alone", () => {
    expect(dataOf(parseSse(sseWire.publication(publication('{"seq":99,"a":1}')))[0]!)).toEqual({ seq: 7, a: 1 });
    expect(parseSse(sseWire.publication(publication("{}")))[0]).toMatchObject({ event: "publication", data: '{"seq":7}' });
  });

  test("a live start is a position-only id, a recovered one its own position (before the replay), a lost one a reset at the current position", () => {
    const state = { seq: 4, epoch: "E2" };
    expect(parseSse(sseWire.subscribed("news", state, undefined, undefined)!)).toEqual([{ kind: "event", id: "E2:4", unknownFields: [] }]);
    expect(parseSse(sseWire.subscribed("news", state, undefined, { recovered: true, replayed: 2 })!)).toEqual([{ kind: "event", id: "E2:2", unknownFields: [] }]);
    expect(parseSse(sseWire.subscribed("news", state, undefined, { recovered: true, replayed: 0 })!)).toEqual([{ kind: "event", id: "E2:4", unknownFields: [] }]);
    const reset = parseSse(sseWire.subscribed("news", state, undefined, { recovered: false, replayed: 0 })!);
    expect(reset).toEqual([{ kind: "event", id: "E2:4", event: "reset", data: '{"epoch":"E2","seq":4}', unknownFields: [] }]);
    expect(Value.Check(SseResetData, dataOf(reset[0]!))).toBe(true);
    expect(sseWire.shutdown()).toBeUndefined();
  });
});

describe("a run over SSE", () => {
  let harness: AgentHarness;
  let alice: TestClient;
  let aliceToken: string;
  beforeAll(async () => {
    harness = await startAgentHarness();
    aliceToken = await harness.server.token({ sub: "alice" });
    alice = await connectAs(harness.server.wsUrl, aliceToken);
  });
  afterAll(async () => {
    alice.close();
    await harness.stop();
  });

  /** Reads a stream's events up to and including the final one of the run answering with `messageId`. */
  async function untilFinal(stream: SseClient, messageId: string): Promise<SseEvent[]> {
    const isFinal = (item: SseItem) => item.kind === "event" && item.data !== undefined && dataOf(item).final_message === true && dataOf(item).message_id === messageId;
    await stream.next(isFinal, 8000);
    return publicationsOf(stream.received);
  }

  /** What a WebSocket frame of the thread is on an SSE stream. */
  const asSse = (epoch: string) => (frame: Frame) => ({ id: `${epoch}:${frame.seq}`, event: frame.payload.type, payload: frame.payload });
  const fromSse = (event: SseEvent) => {
    const { seq: _seq, ...payload } = dataOf(event);
    return { id: event.id, event: event.event, payload };
  };

  test("reads exactly the events a WebSocket subscriber sees, in order, with the same seqs (reasoning, a tool call, text)", async () => {
    harness.fake.enqueue(textResponse("First answer."));
    const first = await send(alice, "Hello");
    const { epoch } = (await alice.next((frame) => frame.channel === "subscription" && frame.payload.channel === first.channel)).payload;
    const firstRun = await collectRun(alice, first.message_id);

    const headers = bearer(aliceToken);
    const live = await SseClient.open(threadEvents(harness.server.httpUrl, first.thread_id), { headers });
    // Subscribed: the stream's first block is its position, after the first run.
    expect(await live.next()).toEqual({ kind: "event", id: `${epoch}:${firstRun.length}`, unknownFields: [] });
    const replaying = await SseClient.open(threadEvents(harness.server.httpUrl, first.thread_id, "?since=0"), { headers });

    harness.fake.enqueue(
      toolCallResponse([{ id: "c1", name: "calculator", arguments: { expression: "6 * 7" } }], { splitArguments: true }),
      textResponse("It is 42.", { reasoning: "The calculator said 42.", chunkSize: 3 }),
    );
    const second = await send(alice, "What is 6 * 7?", { thread_id: first.thread_id });
    const secondRun = await collectRun(alice, second.message_id);
    const types = new Set(secondRun.map((frame) => frame.payload.type));
    for (const type of ["status", "tool", "reasoning", "response"]) expect(types).toContain(type);

    const liveEvents = await untilFinal(live, second.message_id);
    expect(liveEvents.map(fromSse)).toEqual(secondRun.map(asSse(epoch)));
    const replayedEvents = await untilFinal(replaying, second.message_id);
    expect(replayedEvents.map(fromSse)).toEqual([...firstRun, ...secondRun].map(asSse(epoch)));

    for (const stream of [live, replaying]) {
      expectWellFormed(stream.received);
      for (const event of publicationsOf(stream.received)) runEventOf(event);
      stream.abort();
    }
  });

  test("every event of a run, replayed or live, parses and its data minus seq is a RunEventPayload", async () => {
    harness.fake.enqueue(textResponse("Checked.", { reasoning: "Thinking it over." }));
    const ack = await send(alice, "Check me");
    const stream = await SseClient.open(threadEvents(harness.server.httpUrl, ack.thread_id, "?since=0"), { headers: bearer(aliceToken) });
    await collectRun(alice, ack.message_id);
    const events = await untilFinal(stream, ack.message_id);
    expectWellFormed(stream.received);
    const payloads = events.map(runEventOf);
    expect(payloads[0]).toMatchObject({ type: "status", status: "started", final_message: false });
    expect(payloads.at(-1)).toMatchObject({ type: "response", status: "completed", final_message: true, message: "Checked." });
    stream.abort();
  });
});
