// One SSE stream's life (docs/protocol.md section 10): pings on a quiet stream, the end of a token, a
// slow reader cut, a whole run with until=final (real curl), runs untouched by a closed stream, and
// every stream ended cleanly when the server stops.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createTokenService } from "../../../src/auth/tokens.ts";
import { textResponse, toolCallResponse } from "../../helpers/fake-openai.ts";
import { ROOT, spawnServer } from "../../helpers/process.ts";
import { collectRun, send, startAgentHarness, type AgentHarness } from "../../helpers/runs.ts";
import { startTestServer, type TestServer } from "../../helpers/server.ts";
import { SseClient, SseParser, dataOf, positionOf, type SseEvent, type SseItem } from "../../helpers/sse-client.ts";
import { waitFor } from "../../helpers/wait.ts";
import { connectAs, type Frame, type TestClient } from "../../helpers/ws-client.ts";
import { bearer, channelEvents, expectWellFormed, publicationsOf, publishOverHttp, runEventOf, seqsOf, threadEvents } from "./sse-kit.ts";

describe("a quiet stream", () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({ PING_INTERVAL_S: "0.1", IDLE_TIMEOUT_S: "5" });
  });
  afterAll(() => server.stop());

  test("gets `: ping` comments", async () => {
    const token = await server.token({ sub: "quinn" });
    const stream = await SseClient.open(channelEvents(server.httpUrl, "user:quinn"), { headers: bearer(token) });
    for (let count = 0; count < 2; count++) expect(await stream.next((item) => item.kind === "comment")).toEqual({ kind: "comment", text: "ping" });
    // Pings are comments: no event, no id, the position stays.
    expect(stream.lastEventId).toMatch(/:0$/);
    expectWellFormed(stream.received);
    stream.abort();
  });

  test("ends cleanly when its token expires", async () => {
    // Two seconds: exp is whole seconds, so a one-second token minted late in a second may be expired on arrival.
    const token = await server.token({ sub: "quinn" }, 2);
    const stream = await SseClient.open(channelEvents(server.httpUrl, "user:quinn"), { headers: bearer(token) });
    expect(await stream.ended).toEqual({ kind: "done" });
    await waitFor(() => server.app.gateway.connectionCount === 0, "the expired stream to be released");
  });
});

describe("a slow reader", () => {
  let server: TestServer;
  beforeAll(async () => {
    server = await startTestServer({
      MAX_QUEUED_BYTES: "65536",
      HISTORY_SIZE: "100000",
      HISTORY_CHANNEL_MAX_BYTES: String(256 * 1024 * 1024),
      PUBLISH_BYTES_PER_S: String(1024 * 1024 * 1024),
      PUBLISH_BURST_BYTES: String(1024 * 1024 * 1024),
    });
  });
  afterAll(() => server.stop());

  test("is cut by the server, and resumes with Last-Event-ID to get everything still in history", async () => {
    const token = await server.token({ sub: "rosa" });
    const channel = "user:rosa:flood";
    // A client remembers where it started, so that it can resume even if it read nothing before a cut.
    const state = await server.app.broker.state(channel);
    const start = `${state.epoch}:${state.seq}`;
    const slow = await SseClient.open(channelEvents(server.httpUrl, channel), { headers: bearer(token), read: false, lastEventId: start });
    // The body is not read while the publisher floods: the client's buffers fill, then the server's queue.
    const filler = "x".repeat(8 * 1024);
    let published = 0;
    while (server.app.gateway.connectionCount > 0) {
      if (published >= 20_000) throw new Error("the slow reader was never cut");
      published = await publishOverHttp(server.httpUrl, token, channel, { type: "flood", n: published + 1, filler });
    }
    slow.startReading();
    const end = await slow.ended;
    // Cut, not ended: a reader can tell it lost the stream and must resume. The cut drops what the
    // reader had not taken (its unread bytes included), so it may have received little or nothing.
    expect(end.kind).toBe("error");
    const before = seqsOf(slow.received);
    expect(before).toEqual(before.map((_, index) => index + 1));
    expect(before.length).toBeLessThan(published);

    const resumed = await SseClient.open(channelEvents(server.httpUrl, channel), { headers: bearer(token), lastEventId: slow.lastEventId ?? start });
    await resumed.next((item) => item.kind === "event" && item.data !== undefined && dataOf(item).n === published, 20_000);
    const after = seqsOf(resumed.received);
    expect([...before, ...after]).toEqual(Array.from({ length: published }, (_, index) => index + 1));
    expect(resumed.received.some((item) => item.kind === "event" && item.event === "reset")).toBe(false);
    await publishOverHttp(server.httpUrl, token, channel, { type: "flood", n: published + 1 });
    await resumed.next((item) => item.kind === "event" && item.id !== undefined && positionOf(item.id).seq === published + 1);
    resumed.abort();
  }, 60_000);
});

describe("runs", () => {
  let harness: AgentHarness;
  let alice: TestClient;
  let aliceToken: string;
  beforeAll(async () => {
    harness = await startAgentHarness({ TOOLS_REQUIRE_APPROVAL: "calculator" });
    aliceToken = await harness.server.token({ sub: "alice" });
    alice = await connectAs(harness.server.wsUrl, aliceToken);
  });
  afterAll(async () => {
    alice.close();
    await harness.stop();
  });

  /** A run that calls the calculator and waits for approval; resolves with its ack once it waits. */
  async function runAwaitingApproval() {
    harness.fake.enqueue(toolCallResponse([{ id: "calc1", name: "calculator", arguments: { expression: "6 * 7" } }]), textResponse("It is 42.", { reasoning: "Checked." }));
    const ack = await send(alice, "6 * 7?");
    await alice.next((frame) => frame.payload.message_id === ack.message_id && frame.payload.status === "awaiting_approval");
    return ack;
  }

  const approve = async (messageId: string) =>
    expect((await alice.request("chat", { action: "approve", message_id: messageId, call_id: "calc1" })).payload).toMatchObject({ status: "approved" });

  /** `curl -N` on a thread with since=0&until=final; its output read as it comes. */
  function curl(threadId: string) {
    const child = Bun.spawn(["curl", "-N", "-sS", "--max-time", "30", threadEvents(harness.server.httpUrl, threadId, "?since=0&until=final"), "-H", `Authorization: Bearer ${aliceToken}`], {
      stdout: "pipe",
      stderr: "pipe",
    });
    const items: SseItem[] = [];
    const parser = new SseParser();
    let text = "";
    const output = (async () => {
      const decoder = new TextDecoder();
      for await (const chunk of child.stdout) {
        const piece = decoder.decode(chunk, { stream: true });
        text += piece;
        items.push(...parser.push(piece));
      }
      return { text, rest: parser.pending, stderr: await new Response(child.stderr).text() };
    })();
    return { child, items, output };
  }

  /** The run's frames as SSE would carry them, for comparing with what curl printed. */
  const asSse = (frame: Frame) => ({ seq: frame.seq, event: frame.payload.type, payload: frame.payload });
  const fromSse = (event: SseEvent) => {
    const { seq, ...payload } = dataOf(event);
    return { seq, event: event.event, payload };
  };

  test("curl prints a whole finished run, started to the final event, and exits 0 by itself", async () => {
    harness.fake.enqueue(textResponse("All done.", { reasoning: "Easy." }));
    const ack = await send(alice, "Finish please");
    const frames = await collectRun(alice, ack.message_id);
    const { child, items, output } = curl(ack.thread_id);
    expect(await child.exited).toBe(0);
    const { rest, stderr } = await output;
    expect([rest, stderr]).toEqual(["", ""]);
    expectWellFormed(items);
    const events = publicationsOf(items);
    expect(events.map(fromSse)).toEqual(frames.map(asSse));
    const payloads = events.map(runEventOf);
    expect(payloads[0]).toMatchObject({ type: "status", status: "started" });
    expect(payloads.at(-1)).toMatchObject({ status: "completed", final_message: true, message: "All done." });
  });

  test("curl on a run still going streams it as it goes and exits 0 at its final event", async () => {
    const ack = await runAwaitingApproval();
    const { child, items, output } = curl(ack.thread_id);
    await waitFor(() => items.some((item) => item.kind === "event" && item.event === "tool" && dataOf(item).status === "awaiting_approval"), "curl to print the waiting call");
    expect(items.some((item) => item.kind === "event" && item.data !== undefined && dataOf(item).final_message === true)).toBe(false);
    await approve(ack.message_id);
    const frames = await collectRun(alice, ack.message_id);
    expect(await child.exited).toBe(0);
    expect((await output).rest).toBe("");
    expectWellFormed(items);
    const events = publicationsOf(items);
    // The WebSocket's awaiting_approval frame was taken above; every other one is there, in the same order.
    const all = events.map(fromSse);
    expect(all.filter((event) => event.payload.status !== "awaiting_approval")).toEqual(frames.map(asSse));
    expect(all.map((event) => event.seq)).toEqual(all.map((_, index) => index + 1));
    expect(events.map(runEventOf).at(-1)).toMatchObject({ status: "completed", final_message: true, message: "It is 42." });
    // The stream ended at the final event and was released.
    await waitFor(() => harness.server.app.gateway.connectionCount === 1, "curl's stream to be released");
  });

  test("several until=final readers of one run each get the final event and end, though each leaves the channel as it ends", async () => {
    const ack = await runAwaitingApproval();
    const readers = await Promise.all(
      [0, 1, 2].map(() => SseClient.open(threadEvents(harness.server.httpUrl, ack.thread_id, "?until=final"), { headers: bearer(aliceToken) })),
    );
    await waitFor(() => harness.server.app.gateway.connectionCount === 4, "the three streams to be open");
    await approve(ack.message_id);
    for (const reader of readers) {
      expect(await reader.ended).toEqual({ kind: "done" });
      expect(publicationsOf(reader.received).some((event) => dataOf(event).final_message === true)).toBe(true);
    }
    await collectRun(alice, ack.message_id);
  });

  test("closing an SSE stream mid-run does not stop the run: a WebSocket watcher sees it complete", async () => {
    const ack = await runAwaitingApproval();
    const stream = await SseClient.open(threadEvents(harness.server.httpUrl, ack.thread_id, "?since=0"), { headers: bearer(aliceToken) });
    await stream.next((item) => item.kind === "event" && item.data !== undefined && dataOf(item).status === "awaiting_approval");
    stream.abort();
    await waitFor(() => harness.server.app.gateway.connectionCount === 1, "the closed stream to be released");
    await approve(ack.message_id);
    const frames = await collectRun(alice, ack.message_id);
    expect(frames.at(-1)!.payload).toMatchObject({ status: "completed", final_message: true, message: "It is 42." });
    expect(harness.fake.requests.at(-1)!.aborted).toBe(false);
  });
});

describe("stopping the server", () => {
  test("SIGTERM ends every open stream cleanly (a clean end of the body) and the process exits 0", async () => {
    const dataDir = mkdtempSync(join(tmpdir(), "agentwire-sse-stop-"));
    const secret = "sse-shutdown-secret-0123456789";
    const server = await spawnServer(["bun", "run", join(ROOT, "src/index.ts")], { cwd: ROOT, env: { DATA_DIR: dataDir, JWT_SECRET: secret } });
    try {
      const baseUrl = `http://localhost:${server.port}`;
      const token = await createTokenService(secret).sign({ sub: "tess" }, 60);
      await publishOverHttp(baseUrl, token, "user:tess:a", { type: "note", n: 1 });
      const streams = await Promise.all([
        SseClient.open(channelEvents(baseUrl, "user:tess:a"), { headers: bearer(token) }),
        SseClient.open(channelEvents(baseUrl, "user:tess:a", "?since=0"), { headers: bearer(token) }),
        SseClient.open(channelEvents(baseUrl, "user:tess:b"), { headers: bearer(token) }),
        SseClient.open(channelEvents(baseUrl, "user:tess:c", `?token=${token}`)),
      ]);
      await publishOverHttp(baseUrl, token, "user:tess:a", { type: "note", n: 2 });
      await streams[0]!.nextEvent();
      server.process.kill("SIGTERM");
      const ends = await Promise.all(streams.map((stream) => stream.ended));
      expect(ends).toEqual(streams.map(() => ({ kind: "done" })));
      expect(await server.exited).toBe(0);
      expect(seqsOf(streams[1]!.received)).toEqual([1, 2]);
      for (const stream of streams) expectWellFormed(stream.received);
    } finally {
      server.process.kill("SIGKILL");
      rmSync(dataDir, { recursive: true, force: true });
    }
  }, 30_000);
});
