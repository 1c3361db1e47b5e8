// Where an SSE stream starts and how it resumes (docs/protocol.md section 10): Last-Event-ID or
// ?since=&epoch= replay exactly what was missed, on any node, however often the stream is cut.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import fc from "fast-check";
import { ErrorCode, ProtocolError } from "../../../src/protocol/index.ts";
import { streamStart } from "../../../src/transport/sse/sse-position.ts";
import { startCluster, type Cluster } from "../../helpers/cluster.ts";
import { startTestServer, type TestServer } from "../../helpers/server.ts";
import { explainSkip } from "../../helpers/services.ts";
import { SseClient, dataOf, positionOf, type SseItem } from "../../helpers/sse-client.ts";
import { bearer, channelEvents, expectWellFormed, publishOverHttp, seqsOf } from "./sse-kit.ts";

const request = (query: string, lastEventId?: string) =>
  new Request(`http://h/channels/c/events${query}`, { headers: lastEventId === undefined ? {} : { "last-event-id": lastEventId } });

describe("streamStart", () => {
  test("reads Last-Event-ID first, then ?since=&epoch=; since=0 alone is all history of the current epoch", () => {
    expect(streamStart(request(""))).toEqual({ untilFinal: false });
    expect(streamStart(request("?until=final"))).toEqual({ untilFinal: true });
    expect(streamStart(request("", "E1:5"))).toEqual({ epoch: "E1", since: 5, untilFinal: false });
    expect(streamStart(request("?since=2&epoch=Q", "E1:5"))).toEqual({ epoch: "E1", since: 5, untilFinal: false });
    expect(streamStart(request("?since=2&epoch=Q"))).toEqual({ epoch: "Q", since: 2, untilFinal: false });
    expect(streamStart(request("?since=0"))).toEqual({ since: 0, currentEpoch: true, untilFinal: false });
    expect(streamStart(request("?since=3"))).toEqual({ since: 3, untilFinal: false });
    // An empty header is no header, as an EventSource that has no id yet would send.
    expect(streamStart(request("", ""))).toEqual({ untilFinal: false });
  });

  test("anything else is invalid_message", () => {
    const bad: [string, string?][] = [
      ["", "5"],
      ["", "E1:"],
      ["", ":5"],
      ["", "E1:-1"],
      ["", "E1:+1"],
      ["", "E1:1.5"],
      ["", "E1:1e3"],
      ["", "E1: 1"],
      ["", "E1:0x10"],
      ["", "E1:99999999999999999"],
      ["", "a:b:1"],
      ["", `${"e".repeat(65)}:1`],
      ["?since=abc"],
      ["?since=-1"],
      ["?since="],
      ["?since=1&epoch="],
      ["?epoch=E1"],
      ["?until=done"],
    ];
    for (const [query, lastEventId] of bad) {
      let error: unknown;
      try {
        streamStart(request(query, lastEventId));
      } catch (caught) {
        error = caught;
      }
      expect([query, lastEventId, error instanceof ProtocolError && error.code]).toEqual([query, lastEventId, ErrorCode.invalidMessage]);
    }
  });
});

/** An open stream's items up to `count` (waiting for each). */
async function firstItems(stream: SseClient, count: number): Promise<SseItem[]> {
  const items: SseItem[] = [];
  while (items.length < count) items.push(await stream.next());
  return items;
}

describe("where a stream starts", () => {
  let server: TestServer;
  let smallHistory: TestServer;
  beforeAll(async () => {
    server = await startTestServer();
    smallHistory = await startTestServer({ HISTORY_SIZE: "3" });
  });
  afterAll(async () => {
    await server.stop();
    await smallHistory.stop();
  });

  /** A channel with `count` publications; returns its epoch. */
  async function publishSome(target: TestServer, token: string, channel: string, count: number): Promise<string> {
    for (let n = 1; n <= count; n++) await publishOverHttp(target.httpUrl, token, channel, { type: "note", n });
    const probe = await SseClient.open(channelEvents(target.httpUrl, channel), { headers: bearer(token) });
    const { id } = (await probe.next()) as { id: string };
    probe.abort();
    return positionOf(id).epoch;
  }

  test("without a position: a position-only id first, then live publications", async () => {
    const token = await server.token({ sub: "sam" });
    const channel = "user:sam:live";
    const epoch = await publishSome(server, token, channel, 2);
    const stream = await SseClient.open(channelEvents(server.httpUrl, channel), { headers: bearer(token) });
    expect(await stream.next()).toEqual({ kind: "event", id: `${epoch}:2`, unknownFields: [] });
    await publishOverHttp(server.httpUrl, token, channel, { type: "note", n: 3 });
    const event = await stream.nextEvent();
    expect(event).toMatchObject({ id: `${epoch}:3`, event: "note" });
    expect(dataOf(event)).toEqual({ type: "note", n: 3, seq: 3 });
    expectWellFormed(stream.received);
    stream.abort();
  });

  test("?since=0 replays all history, then goes on live", async () => {
    const token = await server.token({ sub: "sam" });
    const channel = "user:sam:all";
    const epoch = await publishSome(server, token, channel, 4);
    const stream = await SseClient.open(channelEvents(server.httpUrl, channel, "?since=0"), { headers: bearer(token) });
    const [position, ...replayed] = await firstItems(stream, 5);
    expect(position).toEqual({ kind: "event", id: `${epoch}:0`, unknownFields: [] });
    expect(replayed.map((item) => (item as { id: string }).id)).toEqual([1, 2, 3, 4].map((seq) => `${epoch}:${seq}`));
    await publishOverHttp(server.httpUrl, token, channel, { type: "note", n: 5 });
    expect(dataOf(await stream.nextEvent())).toEqual({ type: "note", n: 5, seq: 5 });
    expect(stream.received.some((item) => item.kind === "event" && item.event === "reset")).toBe(false);
    expectWellFormed(stream.received);
    stream.abort();
  });

  test("a resumed position replays exactly what came after it, opening with that position", async () => {
    const token = await server.token({ sub: "sam" });
    const channel = "user:sam:resume";
    const epoch = await publishSome(server, token, channel, 5);
    for (const options of [{ lastEventId: `${epoch}:2` }, { query: `?since=2&epoch=${epoch}` }]) {
      const stream = await SseClient.open(channelEvents(server.httpUrl, channel, options.query ?? ""), { headers: bearer(token), lastEventId: options.lastEventId });
      const [position, ...replayed] = await firstItems(stream, 4);
      expect(position).toEqual({ kind: "event", id: `${epoch}:2`, unknownFields: [] });
      expect(replayed.map((item) => dataOf(item).n)).toEqual([3, 4, 5]);
      stream.abort();
    }
    // Already up to date: the response still starts at once (Bun sends no headers before the first
    // bytes), with the position, and the next publication follows.
    const current = await SseClient.open(channelEvents(server.httpUrl, channel), { headers: bearer(token), lastEventId: `${epoch}:5` });
    expect(await current.next()).toEqual({ kind: "event", id: `${epoch}:5`, unknownFields: [] });
    await publishOverHttp(server.httpUrl, token, channel, { type: "note", n: 6 });
    expect(await current.next()).toMatchObject({ id: `${epoch}:6`, event: "note" });
    current.abort();
  });

  test("a wrong epoch, a seq beyond the latest or a seq without epoch: reset at the current position first, then live", async () => {
    const token = await server.token({ sub: "sam" });
    const channel = "user:sam:reset";
    const epoch = await publishSome(server, token, channel, 3);
    const starts = [{ lastEventId: "other:1" }, { query: "?since=1&epoch=other" }, { lastEventId: `${epoch}:9` }, { query: "?since=1" }];
    for (const [index, start] of starts.entries()) {
      const stream = await SseClient.open(channelEvents(server.httpUrl, channel, start.query ?? ""), { headers: bearer(token), lastEventId: start.lastEventId });
      const seq = 3 + index;
      const reset = await stream.next();
      expect(reset).toEqual({ kind: "event", id: `${epoch}:${seq}`, event: "reset", data: JSON.stringify({ epoch, seq }), unknownFields: [] });
      await publishOverHttp(server.httpUrl, token, channel, { type: "note", n: seq + 1 });
      expect(await stream.next()).toMatchObject({ id: `${epoch}:${seq + 1}`, event: "note" });
      expectWellFormed(stream.received);
      stream.abort();
    }
  });

  test("a position older than the kept history: reset, then live", async () => {
    const token = await smallHistory.token({ sub: "sam" });
    const channel = "user:sam:old";
    const epoch = await publishSome(smallHistory, token, channel, 5);
    const stream = await SseClient.open(channelEvents(smallHistory.httpUrl, channel), { headers: bearer(token), lastEventId: `${epoch}:1` });
    expect(await stream.next()).toMatchObject({ id: `${epoch}:5`, event: "reset", data: JSON.stringify({ epoch, seq: 5 }) });
    await publishOverHttp(smallHistory.httpUrl, token, channel, { n: 6 });
    expect(await stream.next()).toMatchObject({ id: `${epoch}:6`, event: "publication" });
    stream.abort();
    // Still inside the kept history: replayed.
    const kept = await SseClient.open(channelEvents(smallHistory.httpUrl, channel), { headers: bearer(token), lastEventId: `${epoch}:3` });
    expect((await firstItems(kept, 4)).map((item) => (item as { id: string }).id)).toEqual([3, 4, 5, 6].map((seq) => `${epoch}:${seq}`));
    kept.abort();
  });
});

type Resume = "header" | "query";
const cutPlan = fc.array(fc.record({ after: fc.nat({ max: 12 }), how: fc.constantFrom<Resume>("header", "query") }), { minLength: 1, maxLength: 6 });

/**
 * Opens a stream, then for each cut reads `after` more publications, cuts it and resumes from the last
 * id received, on `nodeFor(segment)`, while `publish` goes on; returns every seq read, segment after segment.
 */
async function readWithCuts(options: {
  total: number;
  cuts: { after: number; how: Resume }[];
  open: (segment: number, query: string, lastEventId: string | undefined) => Promise<SseClient>;
  publish: () => Promise<void>;
}): Promise<number[]> {
  const { total, cuts, open } = options;
  let stream = await open(0, "", undefined);
  // Subscribed before anything is published: the stream's position is its first block.
  await stream.next();
  let lastId = stream.lastEventId!;
  const publishing = options.publish();
  const seqs: number[] = [];
  const segmentEnded = async () => {
    stream.abort();
    await stream.ended;
    expectWellFormed(stream.received);
    // Every position was recoverable: no segment starts with a reset.
    expect(stream.received.filter((item) => item.kind === "event" && item.event === "reset")).toEqual([]);
    seqs.push(...seqsOf(stream.received));
  };
  const lastSeq = () => positionOf(lastId).seq;
  for (const [index, cut] of cuts.entries()) {
    for (let read = 0; read < cut.after && lastSeq() < total; read++) {
      await stream.nextEvent();
      lastId = stream.lastEventId!;
    }
    await segmentEnded();
    // What arrived before the cut took effect counts too: the id of the last item read is the position.
    lastId = stream.lastEventId ?? lastId;
    const { epoch, seq } = positionOf(lastId);
    stream = cut.how === "header" ? await open(index + 1, "", lastId) : await open(index + 1, `?since=${seq}&epoch=${epoch}`, undefined);
  }
  await publishing;
  if (lastSeq() < total) await stream.next((item) => item.kind === "event" && item.id !== undefined && positionOf(item.id).seq === total);
  await segmentEnded();
  return seqs;
}

const range = (total: number) => Array.from({ length: total }, (_, index) => index + 1);

describe("resume after cuts", () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer();
  });
  afterAll(() => server.stop());

  test("cut anywhere while a publisher goes on, resumed with Last-Event-ID or ?since=&epoch=: every seq once, in order", async () => {
    const token = await server.token({ sub: "pia" });
    let run = 0;
    await fc.assert(
      fc.asyncProperty(cutPlan, async (cuts) => {
        const channel = `user:pia:cuts-${++run}`;
        const total = 40;
        const seqs = await readWithCuts({
          total,
          cuts,
          open: (_segment, query, lastEventId) => SseClient.open(channelEvents(server.httpUrl, channel, query), { headers: bearer(token), lastEventId }),
          publish: async () => {
            for (let n = 1; n <= total; n++) await publishOverHttp(server.httpUrl, token, channel, { type: "tick", n });
          },
        });
        expect(seqs).toEqual(range(total));
      }),
      { numRuns: 50 },
    );
  }, 60_000);
});

describe.skipIf(explainSkip("SSE resume across nodes", ["redis", "postgres"]))("resume on the other node", () => {
  let cluster: Cluster;
  beforeAll(async () => {
    cluster = await startCluster(2);
  });
  afterAll(() => cluster?.stop());

  test("each cut resumes on the other node of a Redis/PostgreSQL cluster: every seq once, in order", async () => {
    const token = await cluster.nodes[0]!.token({ sub: "pia" });
    let run = 0;
    await fc.assert(
      fc.asyncProperty(cutPlan, fc.nat({ max: 1 }), async (cuts, publisherNode) => {
        const channel = `user:pia:nodes-${++run}`;
        const total = 30;
        const seqs = await readWithCuts({
          total,
          cuts,
          open: (segment, query, lastEventId) =>
            SseClient.open(channelEvents(cluster.nodes[segment % 2]!.httpUrl, channel, query), { headers: bearer(token), lastEventId }),
          publish: async () => {
            for (let n = 1; n <= total; n++) await publishOverHttp(cluster.nodes[publisherNode]!.httpUrl, token, channel, { type: "tick", n });
          },
        });
        expect(seqs).toEqual(range(total));
      }),
      { numRuns: 25 },
    );
  }, 60_000);
});
