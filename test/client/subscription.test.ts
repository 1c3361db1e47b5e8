// Subscriptions across failures: each publication delivered exactly once and in order through random
// connection cuts, lost and doubled frames; a reset when history is gone (server restart).

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import fc from "fast-check";
import type { AgentwireClientOptions, Publication, SubscribedPayload } from "../../src/client/index.ts";
import { SocketControl } from "../helpers/controlled-websocket.ts";
import { SdkClients } from "../helpers/sdk-clients.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { waitFor } from "../helpers/wait.ts";

let server: TestServer;
const clients = new SdkClients();
beforeAll(async () => {
  server = await startTestServer();
});
afterAll(async () => {
  clients.closeAll();
  await server.stop();
});

const connectedClient = (target: TestServer, sub: string, options: Partial<AgentwireClientOptions> = {}) => clients.connect(target, sub, options);

const range = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, index) => from + index);
let channelCounter = 0;

describe("exactly once across connection cuts", () => {
  test("random cuts while a publisher publishes: the callback sees every seq 1..N once, in order", async () => {
    const control = new SocketControl();
    const subscriber = await connectedClient(server, "pat", { WebSocket: control.WebSocket });
    const total = 150;
    // Each cut: after which publication it is armed, and after how many more frames reach the subscriber
    // it strikes (0: at once; more: in the middle of a replay or of live traffic).
    // Armed no later than 10 publications before the end, so each run's first cut strikes a live socket.
    const cut = fc.record({ afterPublication: fc.integer({ min: 1, max: total - 10 }), afterFrames: fc.integer({ min: 0, max: 6 }) });
    await fc.assert(
      fc.asyncProperty(fc.array(cut, { minLength: 1, maxLength: 8 }), async (cuts) => {
        // A publisher per run: the server's per-connection rate limit must not drop its frames.
        const publisher = await connectedClient(server, "pat");
        const channel = `user:pat:cuts-${++channelCounter}`;
        const seen: Publication[] = [];
        const subscription = subscriber.subscribe(channel, (publication) => seen.push(publication));
        await waitFor(() => subscription.state === "subscribed", "the subscription");
        let armed = 0;
        control.onReceive = () => {
          if (armed > 0 && --armed === 0) control.cut();
        };
        for (let n = 1; n <= total; n++) {
          await publisher.publish(channel, { n });
          for (const each of cuts.filter((candidate) => candidate.afterPublication === n)) {
            if (each.afterFrames === 0) control.cut();
            else armed = each.afterFrames;
          }
          // Let frames flow now and then, so cuts land in live traffic and in replays.
          if (n % 10 === 0) await Bun.sleep(1);
        }
        await waitFor(() => subscription.lastSeq === total && subscription.state === "subscribed", `seq ${total} (seen ${seen.length})`);
        control.onReceive = undefined;
        expect(seen.map((publication) => publication.seq)).toEqual(range(1, total));
        expect(seen.map((publication) => publication.payload.n)).toEqual(range(1, total));
        subscription.unsubscribe();
        publisher.close();
      }),
      { numRuns: 8 },
    );
    // Every run cut the connection at least once.
    expect(control.sockets.length).toBeGreaterThan(8);
  }, 60_000);

  test("a lost frame (a gap) makes the subscription recover from its last seq; a doubled one is dropped", async () => {
    const publisher = await connectedClient(server, "quin");
    const control = new SocketControl();
    const subscriber = await connectedClient(server, "quin", { WebSocket: control.WebSocket });
    const channel = "user:quin:gaps";
    const seen: number[] = [];
    const subscription = subscriber.subscribe(channel, (publication) => seen.push(publication.seq));
    await waitFor(() => subscription.state === "subscribed", "the subscription");
    control.transformIncoming = (data) => {
      const frame = JSON.parse(data);
      if (frame.channel !== channel) return [data];
      if (frame.seq === 3 && !lost) {
        lost = true;
        return [];
      }
      if (frame.seq === 5) return [data, data];
      return [data];
    };
    let lost = false;
    for (const n of range(1, 8)) await publisher.publish(channel, { n });
    await waitFor(() => subscription.lastSeq === 8, "seq 8");
    expect(seen).toEqual(range(1, 8));
    const subscribes = control.current!.sent.map((text) => JSON.parse(text)).filter((frame) => frame.channel === "subscription");
    expect(subscribes.at(-1)!.payload).toEqual({ action: "subscribe", channel, since: 2, epoch: subscription.epoch });
    expect(control.sockets).toHaveLength(1);
  });
});

describe("server restart", () => {
  test("history lost: the subscription emits reset once, goes on from the new epoch, and the app sees new publications", async () => {
    const probe = Bun.serve({ port: 0, fetch: () => new Response() });
    const port = String(probe.port);
    probe.stop(true);
    let first: TestServer | undefined = await startTestServer({ PORT: port });
    let second: TestServer | undefined;
    try {
      const publisher = await connectedClient(first, "rex");
      const subscriber = await connectedClient(first, "rex");
      const channel = "user:rex:restart";
      const seen: Publication[] = [];
      const resets: SubscribedPayload[] = [];
      const onReset: SubscribedPayload[] = [];
      const subscription = subscriber.subscribe(channel, (publication) => seen.push(publication), { onReset: (ack) => void onReset.push(ack) });
      subscription.on("reset", (ack) => resets.push(ack));
      await waitFor(() => subscription.state === "subscribed", "the subscription");
      for (const n of [1, 2, 3]) await publisher.publish(channel, { n });
      await waitFor(() => seen.length === 3, "three publications");
      const oldEpoch = subscription.epoch;

      const closes: number[] = [];
      subscriber.on("disconnected", ({ code }) => closes.push(code));
      await first.stop();
      first = undefined;
      second = await startTestServer({ PORT: port });
      await waitFor(() => subscriber.state === "connected" && publisher.state === "connected", "both clients to reconnect");
      await waitFor(() => resets.length === 1 && subscription.state === "subscribed", "the reset");
      expect(closes[0]).toBe(1001);
      expect(resets[0]).toMatchObject({ channel, seq: 0, recovered: false });
      expect(onReset).toEqual(resets);
      expect(subscription.epoch).not.toBe(oldEpoch);
      expect(subscription.lastSeq).toBe(0);

      for (const n of [4, 5]) await publisher.publish(channel, { n });
      await waitFor(() => seen.length === 5, "the new publications");
      expect(seen.slice(3)).toEqual([
        { channel, seq: 1, payload: { n: 4 } },
        { channel, seq: 2, payload: { n: 5 } },
      ]);
      expect(resets).toHaveLength(1);
    } finally {
      await first?.stop();
      await second?.stop();
    }
  }, 20_000);

  test("onReset may reload and name the position to resume from: publications after it are replayed once", async () => {
    const publisher = await connectedClient(server, "sam");
    const control = new SocketControl();
    const subscriber = await connectedClient(server, "sam", { WebSocket: control.WebSocket });
    const channel = "user:sam:reload";
    for (const n of range(1, 4)) await publisher.publish(channel, { n });
    const seen: number[] = [];
    // A stale epoch forces recovered:false; the "reload" says the app's state reflects seq 2 of the real epoch.
    const subscription = subscriber.subscribe(channel, (publication) => seen.push(publication.seq), {
      since: 1,
      epoch: "stale",
      onReset: async (ack) => {
        await Bun.sleep(20);
        return { seq: 2, epoch: ack.epoch };
      },
    });
    await waitFor(() => subscription.state === "subscribed" && subscription.lastSeq === 4, "the resume");
    expect(seen).toEqual([3, 4]);
    await publisher.publish(channel, { n: 5 });
    await waitFor(() => subscription.lastSeq === 5, "seq 5");
    expect(seen).toEqual([3, 4, 5]);
  });
});
