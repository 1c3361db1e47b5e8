// Recovery with since/epoch: exactly the missed publications, then live ones, none lost or doubled.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import fc from "fast-check";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { laggyBroker } from "../helpers/laggy-broker.ts";
import { connectAs, type Frame, type TestClient } from "../helpers/ws-client.ts";

let server: TestServer;
let smallHistory: TestServer;
let laggy: TestServer;
beforeAll(async () => {
  server = await startTestServer({ HISTORY_SIZE: "1000" });
  smallHistory = await startTestServer({ HISTORY_SIZE: "3" });
  laggy = await startTestServer({}, { broker: laggyBroker(1000) });
});
afterAll(async () => {
  await server.stop();
  await smallHistory.stop();
  await laggy.stop();
});

const connect = async (target: TestServer, sub = "rita") => connectAs(target.wsUrl, await target.token({ sub }));

describe("subscribe with since", () => {
  test("replays exactly the missed publications, then live ones", async () => {
    const publisher = await connect(server);
    const channel = "user:rita:replay";
    for (let n = 1; n <= 5; n++) await publisher.publish(channel, { n });
    const first = await connect(server);
    const epoch = (await first.subscribe(channel)).payload.epoch;
    first.close();
    const again = await connect(server);
    const ack = await again.subscribe(channel, { since: 2, epoch });
    expect(ack.payload).toEqual({ status: "subscribed", channel, seq: 5, epoch, recovered: true, replayed: 3 });
    for (const n of [3, 4, 5]) expect(await again.next((frame) => frame.channel === channel)).toEqual({ channel, seq: n, payload: { n } });
    await publisher.publish(channel, { n: 6 });
    expect((await again.next((frame) => frame.channel === channel)).seq).toBe(6);
    again.close();
    publisher.close();
  });

  test("since equal to the latest seq recovers with nothing to replay", async () => {
    const client = await connect(server);
    const channel = "user:rita:uptodate";
    const state = await client.subscribe(channel);
    const ack = await client.subscribe(channel, { since: 0, epoch: state.payload.epoch });
    expect(ack.payload).toMatchObject({ seq: 0, recovered: true, replayed: 0 });
    client.close();
  });

  test("a wrong or missing epoch, or since beyond the latest seq, is not recovered", async () => {
    const client = await connect(server);
    const channel = "user:rita:mismatch";
    await client.publish(channel, { n: 1 });
    const { epoch } = (await client.subscribe(channel)).payload;
    for (const request of [{ since: 0, epoch: "other" }, { since: 0 }, { since: 5, epoch }]) {
      const ack = await client.subscribe(channel, request);
      expect(ack.payload).toMatchObject({ seq: 1, epoch, recovered: false, replayed: 0 });
    }
    await client.barrier();
    expect(client.pending((frame) => frame.channel === channel)).toEqual([]);
    client.close();
  });

  test("history trimmed past since is not recovered", async () => {
    const client = await connect(smallHistory);
    const channel = "user:rita:trimmed";
    const { epoch } = (await client.subscribe(channel)).payload;
    await client.request("subscription", { action: "unsubscribe", channel });
    for (let n = 1; n <= 5; n++) await client.publish(channel, { n });
    expect((await client.subscribe(channel, { since: 1, epoch })).payload).toMatchObject({ recovered: false, seq: 5 });
    const ok = await client.subscribe(channel, { since: 2, epoch });
    expect(ok.payload).toMatchObject({ recovered: true, replayed: 3 });
    client.close();
  });

  test("a negative since is invalid_message", async () => {
    const client = await connect(server);
    const error = await client.subscribe("user:rita", { since: -1 });
    expect(error.payload).toMatchObject({ code: "invalid_message", details: ["/payload/since"] });
    client.close();
  });
});

type Step = { kind: "publish"; count: number; awaitAcks: boolean } | { kind: "disconnect" } | { kind: "reconnect"; withPublishes: number };

const stepArbitrary: fc.Arbitrary<Step> = fc.oneof(
  fc.record({ kind: fc.constant("publish" as const), count: fc.integer({ min: 1, max: 6 }), awaitAcks: fc.boolean() }),
  fc.constant({ kind: "disconnect" as const }),
  fc.record({ kind: fc.constant("reconnect" as const), withPublishes: fc.integer({ min: 0, max: 6 }) }),
);

let caseCounter = 0;

/**
 * Runs one interleaving: a publisher keeps publishing (sometimes without waiting for acks, sometimes
 * during the resubscribe) while the subscriber drops and resumes with since/epoch; then checks that
 * the subscriber saw every seq once, in order, with the payload that was published.
 */
async function runCase(target: TestServer, steps: Step[], historySize: number): Promise<void> {
  const channel = `user:rita:prop${++caseCounter}`;
  const publisher = await connect(target);
  const payloads = new Map<number, unknown>();
  let sent = 0;
  const inFlight: Promise<Frame>[] = [];
  const publish = (count: number) => {
    for (let i = 0; i < count; i++) {
      const body = { k: ++sent };
      inFlight.push(publisher.publish(channel, body).then((ack) => (payloads.set(ack.payload.seq, body), ack)));
    }
  };

  let subscriber: TestClient | undefined = await connect(target);
  let epoch = (await subscriber.subscribe(channel)).payload.epoch as string;
  const received: Frame[] = [];
  const take = () => {
    if (subscriber) received.push(...subscriber.drain((frame) => frame.channel === channel));
  };
  // After `recovered: false` the client reloads its state: stand-ins for what it reloaded.
  const reload = (upTo: number) => {
    received.length = 0;
    for (let seq = 1; seq <= upTo; seq++) received.push({ channel, seq, payload: { reloaded: true } });
  };
  const lastSeq = () => (received.length ? received[received.length - 1]!.seq! : 0);

  for (const step of steps) {
    if (step.kind === "publish") {
      publish(step.count);
      if (step.awaitAcks) await Promise.all(inFlight);
    } else if (step.kind === "disconnect" && subscriber) {
      take();
      subscriber.close();
      await subscriber.closed;
      take();
      subscriber = undefined;
    } else if (step.kind === "reconnect" && !subscriber) {
      subscriber = await connect(target);
      const since = lastSeq();
      // Publications trickle in while the subscribe below is in flight.
      inFlight.push(
        (async () => {
          for (let i = 0; i < step.withPublishes; i++) {
            publish(1);
            await Bun.sleep(1);
          }
          return { channel, payload: {} };
        })(),
      );
      const ack = await subscriber.subscribe(channel, { since, epoch });
      if (ack.payload.recovered) {
        expect(ack.payload.replayed).toBe(ack.payload.seq - since);
      } else {
        // Only a history too short for what was missed may refuse recovery.
        expect(ack.payload.seq - since).toBeGreaterThan(historySize);
        reload(ack.payload.seq);
      }
      epoch = ack.payload.epoch;
    }
    take();
  }
  for (let settled = 0; settled < inFlight.length; settled++) await inFlight[settled];
  if (!subscriber) {
    subscriber = await connect(target);
    const since = lastSeq();
    const ack = await subscriber.subscribe(channel, { since, epoch });
    if (!ack.payload.recovered) {
      expect(ack.payload.seq - since).toBeGreaterThan(historySize);
      reload(ack.payload.seq);
    }
  }
  if (sent > 0 && lastSeq() < sent) {
    await subscriber.next((frame) => frame.channel === channel && frame.seq === sent).then((frame) => {
      take();
      received.push(frame);
    });
  }
  take();
  expect(received.map((frame) => frame.seq)).toEqual(Array.from({ length: sent }, (_, i) => i + 1));
  for (const frame of received) if (!frame.payload.reloaded) expect(frame.payload).toEqual(payloads.get(frame.seq!) as never);
  subscriber.close();
  publisher.close();
}

describe("property: any interleaving of publish, disconnect and resubscribe", () => {
  test("the subscriber's sequence is exactly the published one", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(stepArbitrary, { minLength: 1, maxLength: 25 }), (steps) => runCase(server, steps, 1000)),
      { numRuns: 60 },
    );
  }, 60_000);

  test("the same holds when the broker answers slowly and publications race the ack", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(stepArbitrary, { minLength: 1, maxLength: 25 }), (steps) => runCase(laggy, steps, 1000)),
      { numRuns: 60 },
    );
  }, 60_000);

  test("with a short history, recovery is refused only when more was missed than it holds", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(stepArbitrary, { minLength: 1, maxLength: 20 }), (steps) => runCase(smallHistory, steps, 3)),
      { numRuns: 40 },
    );
  }, 60_000);
});
