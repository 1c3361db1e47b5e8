// Chat through RunHandles against the real server and the fake model: iterate, stop, approve, and a
// handle that keeps working across reconnects; watch a run already going.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { AgentwireClientOptions, RunEventPayload, RunHandle } from "../../src/client/index.ts";
import { SocketControl } from "../helpers/controlled-websocket.ts";
import { textResponse, toolCallResponse } from "../helpers/fake-openai.ts";
import { startAgentHarness, type AgentHarness } from "../helpers/runs.ts";
import { SdkClients } from "../helpers/sdk-clients.ts";
import { waitFor } from "../helpers/wait.ts";

let harness: AgentHarness;
const clients = new SdkClients();
beforeAll(async () => {
  harness = await startAgentHarness({ TOOLS_REQUIRE_APPROVAL: "calculator", APPROVAL_TIMEOUT_S: "10" });
});
afterAll(async () => {
  clients.closeAll();
  await harness.stop();
});

const connectedClient = (sub: string, options: Partial<AgentwireClientOptions> = {}) => clients.connect(harness.server, sub, options);

async function collect(handle: RunHandle): Promise<RunEventPayload[]> {
  const events: RunEventPayload[] = [];
  for await (const event of handle) events.push(event);
  return events;
}

const shape = (events: RunEventPayload[]) => events.map((event) => `${event.type}/${event.status}`);
const deltas = (events: RunEventPayload[]) =>
  events
    .filter((event) => event.type === "response" && event.status === "in_progress")
    .map((event) => event.message)
    .join("");
const slowText = (text: string) => textResponse(text, { chunkSize: 3, delayMs: 4 });

describe("chat.send", () => {
  test("the handle iterates the run's events to the final one, whose content is the model's text", async () => {
    const client = await connectedClient("alice");
    harness.fake.enqueue(textResponse("Hello there, from the fake.", { chunkSize: 5 }));
    const handle = await client.chat.send("hi", { useReasoning: false });
    expect(handle.channel).toBe(`thread:${handle.threadId}`);
    const events = await collect(handle);
    expect(shape(events)[0]).toBe("status/started");
    expect(events.filter((event) => event.final_message)).toHaveLength(1);
    expect(events.at(-1)).toMatchObject({ type: "response", status: "completed", final_message: true, message: "Hello there, from the fake.", message_id: handle.messageId });
    expect(deltas(events)).toBe("Hello there, from the fake.");
    expect(handle.text).toBe("Hello there, from the fake.");
    expect(await handle.done).toBe(events.at(-1)!);
    // The run is over: the thread subscription the SDK took over is released.
    await waitFor(() => client.getSubscription(handle.channel) === undefined, "the thread subscription to be released");

    // The next message in the same thread gets a fresh handle, with every event again.
    harness.fake.enqueue(textResponse("Second answer."));
    const next = await client.chat.send("more", { threadId: handle.threadId });
    expect(next.threadId).toBe(handle.threadId);
    const again = await collect(next);
    expect(shape(again)[0]).toBe("status/started");
    expect(again.at(-1)!.message).toBe("Second answer.");
  });

  test("a send on a thread the application follows itself: the handle gets every event, the app's subscription goes on", async () => {
    const client = await connectedClient("alice");
    const thread = await client.threads.create("mine");
    const seen: number[] = [];
    const subscription = client.subscribe(`thread:${thread.id}`, (publication) => seen.push(publication.seq));
    await waitFor(() => subscription.state === "subscribed", "the app's thread subscription");
    harness.fake.enqueue(slowText("Followed by the app as well."));
    const handle = await client.chat.send("go", { threadId: thread.id });
    const events = await collect(handle);
    expect(shape(events)[0]).toBe("status/started");
    expect(deltas(events)).toBe("Followed by the app as well.");
    expect(seen).toEqual(Array.from({ length: events.length }, (_, index) => index + 1));
    expect(client.getSubscription(`thread:${thread.id}`)).toBe(subscription);
    expect(subscription.state).toBe("subscribed");
  });

  test("the application subscribes to the thread between the server's announcement and the ack: both see every event", async () => {
    const control = new SocketControl();
    const client = await connectedClient("alice", { WebSocket: control.WebSocket });
    const thread = await client.threads.create("late subscriber");
    const channel = `thread:${thread.id}`;
    let heldAck: string | undefined;
    let eventsBehindAck = 0;
    control.transformIncoming = (data) => {
      if (data.includes('"accepted"')) {
        heldAck = data;
        return [];
      }
      if (heldAck !== undefined && JSON.parse(data).channel === channel) eventsBehindAck++;
      return [data];
    };
    harness.fake.enqueue(slowText("Seen by both."));
    const pending = client.chat.send("go", { threadId: thread.id });
    await waitFor(() => heldAck !== undefined && eventsBehindAck > 0, "the run's first events behind the held ack");
    // The run's first events came after the announcement; the app's subscribe takes the announcement over.
    const seen: number[] = [];
    const subscription = client.subscribe(channel, (publication) => seen.push(publication.seq));
    expect(subscription.state).toBe("subscribed");
    control.transformIncoming = undefined;
    control.current!.inject(heldAck!);
    const handle = await pending;
    const events = await collect(handle);
    expect(shape(events)[0]).toBe("status/started");
    expect(deltas(events)).toBe("Seen by both.");
    expect(seen).toEqual(Array.from({ length: events.length }, (_, index) => index + 1));
  });

  test("stop through the handle: the model request is aborted and the final event is cancelled", async () => {
    const client = await connectedClient("alice");
    harness.fake.enqueue(textResponse("word ".repeat(300), { chunkSize: 5, delayMs: 10 }));
    const handle = await client.chat.send("talk slowly");
    const iterator = handle[Symbol.asyncIterator]();
    for (;;) {
      const { value } = await iterator.next();
      if (value?.type === "response") break;
    }
    expect(await handle.stop()).toMatchObject({ status: "stopping", message_id: handle.messageId });
    const final = await handle.done;
    expect(final).toMatchObject({ type: "response", status: "cancelled", final_message: true });
    expect(final.message.length).toBeLessThan("word ".repeat(300).length);
    await waitFor(() => harness.fake.requests.at(-1)!.aborted, "the fake to see the abort");
    await expect(handle.stop()).rejects.toMatchObject({ code: "not_found" });
  });

  test("approve through the handle: awaiting_approval, approve, the tool runs and the run completes", async () => {
    const client = await connectedClient("alice");
    harness.fake.enqueue(toolCallResponse([{ id: "calc-1", name: "calculator", arguments: { expression: "6*(3+4)" } }]), textResponse("It is 42."));
    const handle = await client.chat.send("what is 6*(3+4)?");
    const events: RunEventPayload[] = [];
    for await (const event of handle) {
      events.push(event);
      if (event.status === "awaiting_approval") {
        expect(event.tool).toMatchObject({ call_id: "calc-1", name: "calculator" });
        expect(await handle.approve(event.tool!.call_id)).toMatchObject({ status: "approved", call_id: "calc-1" });
      }
    }
    expect(shape(events)).toEqual(expect.arrayContaining(["tool/awaiting_approval", "tool/processing", "tool/done"]));
    expect(events.find((event) => event.status === "done")!.tool!.result).toBe("42");
    expect(events.at(-1)).toMatchObject({ type: "response", status: "completed", message: "It is 42." });
  });

  test("reject through the handle: the tool call is rejected with the reason", async () => {
    const client = await connectedClient("alice");
    harness.fake.enqueue(toolCallResponse([{ id: "calc-2", name: "calculator", arguments: { expression: "1+1" } }]), textResponse("Fine, I will not."));
    const handle = await client.chat.send("1+1?");
    for await (const event of handle) {
      if (event.status === "awaiting_approval") await handle.reject("calc-2", "not now");
    }
    const rejected = handle.events.find((event) => event.status === "rejected");
    expect(rejected?.tool).toMatchObject({ call_id: "calc-2", error: "not now" });
    expect((await handle.done).status).toBe("completed");
  });

  test("a send while offline waits in the queue and starts after the connection", async () => {
    const client = await connectedClient("alice");
    client.disconnect();
    harness.fake.enqueue(textResponse("Queued and answered."));
    const pending = client.chat.send("queued");
    client.connect();
    const handle = await pending;
    expect((await handle.done).message).toBe("Queued and answered.");
    expect(shape(await collect(handle))[0]).toBe("status/started");
  });
});

describe("a run handle across reconnects", () => {
  test("cut mid-run, several times: the iterator yields every event once and ends with the final one", async () => {
    const control = new SocketControl();
    const client = await connectedClient("bert", { WebSocket: control.WebSocket });
    const text = "The quick brown fox jumps over the lazy dog. ".repeat(6);
    harness.fake.enqueue(slowText(text));
    const handle = await client.chat.send("tell me about the fox", { useReasoning: false });
    const events: RunEventPayload[] = [];
    let cuts = 0;
    for await (const event of handle) {
      events.push(event);
      // Cut after the 3rd, 8th and 14th events: the run goes on on the server meanwhile.
      if ([3, 8, 14].includes(events.length)) {
        control.cut();
        cuts++;
      }
    }
    expect(cuts).toBe(3);
    expect(control.sockets.length).toBeGreaterThanOrEqual(4);
    expect(shape(events).filter((step) => step === "status/started")).toHaveLength(1);
    expect(events.filter((event) => event.final_message)).toHaveLength(1);
    expect(events.at(-1)).toMatchObject({ status: "completed", message: text });
    expect(deltas(events)).toBe(text);
    // Every event once: timestamps grow and no payload repeats.
    expect(new Set(events.map((event) => JSON.stringify(event))).size).toBe(events.length);
  });

  test("the cut lands between the ack and the first events: nothing is missed", async () => {
    const control = new SocketControl();
    const client = await connectedClient("bert", { WebSocket: control.WebSocket });
    const text = "Reconnect right after the ack. ".repeat(3);
    harness.fake.enqueue(slowText(text));
    // Cut as soon as the ack frame was handled, before the events that follow it are read.
    let ackDelivered = false;
    control.transformIncoming = (data) => {
      if (data.includes('"accepted"')) ackDelivered = true;
      return [data];
    };
    control.onReceive = () => {
      if (!ackDelivered) return;
      control.onReceive = undefined;
      control.cut();
    };
    const handle = await client.chat.send("go");
    const events = await collect(handle);
    expect(control.sockets.length).toBeGreaterThanOrEqual(2);
    expect(shape(events)[0]).toBe("status/started");
    expect(deltas(events)).toBe(text);
    expect(events.at(-1)!.message).toBe(text);
  });
});

describe("chat.watch", () => {
  test("attaches to a run already going: the snapshot's text plus the events after it give the full answer once", async () => {
    const starter = await connectedClient("cleo");
    const text = "Watched from another tab, after a reload. ".repeat(5);
    harness.fake.enqueue(textResponse(text, { chunkSize: 3, delayMs: 8 }));
    const started = await starter.chat.send("long answer please", { useReasoning: false });
    // Let the run produce some text and a checkpoint first.
    const watcher = await connectedClient("cleo");
    const stored = async () => (await watcher.threads.messages(started.threadId)).messages.find((message) => message.id === started.messageId)!.content;
    await waitFor(async () => (await stored()).length > 0, "a checkpoint of the answer");
    const watched = await watcher.chat.watch(started.threadId, started.messageId);
    expect(watched.snapshot).toMatchObject({ id: started.messageId, status: "streaming" });
    const snapshotText = watched.snapshot!.content;
    expect(snapshotText.length).toBeGreaterThan(0);
    const events = await collect(watched);
    expect(snapshotText + deltas(events)).toBe(text);
    expect(watched.text).toBe(text);
    expect(events.at(-1)).toMatchObject({ status: "completed", message: text });
    expect(events.some((event) => event.status === "started")).toBe(false);
    await started.done;
  });

  test("a finished run's handle ends at once with a final event from the stored message", async () => {
    const client = await connectedClient("cleo");
    harness.fake.enqueue(textResponse("All done."));
    const handle = await client.chat.send("quick");
    await handle.done;
    const watched = await client.chat.watch(handle.threadId);
    expect(watched.finished).toBe(true);
    expect(await watched.done).toMatchObject({ type: "response", status: "completed", message: "All done.", final_message: true });
    expect(await collect(watched)).toHaveLength(1);
  });

  test("a watch on a thread the application already follows: what its subscription got before the watch is not lost", async () => {
    const client = await connectedClient("dina");
    const thread = await client.threads.create("followed first");
    const channel = `thread:${thread.id}`;
    const seen: number[] = [];
    const subscription = client.subscribe(channel, (publication) => seen.push(publication.seq), { presence: true });
    await waitFor(() => subscription.state === "subscribed", "the app's thread subscription");
    const text = "Started elsewhere while this client already followed the thread. ".repeat(4);
    harness.fake.enqueue(textResponse(text, { chunkSize: 3, delayMs: 6 }));
    const accepted = await client.threads.send(thread.id, "hello");
    // The subscription delivers events before the watch asks for its snapshot.
    await waitFor(() => seen.length > 20, "events on the app's subscription");
    const handle = await client.chat.watch(thread.id, accepted.message_id);
    await handle.done;
    expect((handle.snapshot?.content ?? "") + deltas(handle.events)).toBe(text);
    // The application's subscription is the feed's and goes on after the run.
    expect(client.getSubscription(channel)).toBe(subscription);
    expect(subscription.state).toBe("subscribed");
  });

  test("a REST send, then watch: the watcher sees the whole run", async () => {
    const client = await connectedClient("dina");
    const thread = await client.threads.create("over REST");
    harness.fake.enqueue(slowText("Started over REST."));
    const accepted = await client.threads.send(thread.id, "hello");
    const handle = await client.chat.watch(thread.id, accepted.message_id);
    await handle.done;
    expect((handle.snapshot?.content ?? "") + deltas(handle.events)).toBe("Started over REST.");
  });
});
