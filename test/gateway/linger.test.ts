// A channel left by its last subscriber keeps its broker listen for a while, so clients that come back
// together (a reconnect storm) do not make the node unlisten and listen again, channel by channel.

import { afterAll, beforeAll, expect, test } from "bun:test";
import type { Broker } from "../../src/broker/broker.ts";
import { MemoryBroker } from "../../src/broker/memory-broker.ts";
import { directConnection, directGateway } from "../helpers/direct-gateway.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { waitFor } from "../helpers/wait.ts";
import { connectAs } from "../helpers/ws-client.ts";

/** A memory broker that counts listens and unlistens per channel. */
function countingBroker() {
  const inner = new MemoryBroker({ historySize: 1000, historyTtlS: 3600, historyMaxBytes: 64 * 1024 * 1024, historyMaxChannels: 10_000 });
  const listens = new Map<string, number>();
  const unlistens = new Map<string, number>();
  const count = (counts: Map<string, number>, channel: string) => counts.set(channel, (counts.get(channel) ?? 0) + 1);
  const broker: Broker = {
    publish: (channel, payload, origin) => inner.publish(channel, payload, origin),
    state: (channel) => inner.state(channel),
    recover: (channel, since, epoch) => inner.recover(channel, since, epoch),
    listen: (channel) => (count(listens, channel), inner.listen(channel)),
    unlisten: (channel) => (count(unlistens, channel), inner.unlisten(channel)),
    sync: () => inner.sync(),
    onPublication: (listener) => inner.onPublication(listener),
    ready: () => inner.ready(),
    close: () => inner.close(),
  };
  return { broker, listens, unlistens };
}

let server: TestServer;
let counting: ReturnType<typeof countingBroker>;
beforeAll(async () => {
  counting = countingBroker();
  server = await startTestServer({}, { broker: counting.broker });
});
afterAll(() => server.stop());

test("a client that drops and resumes finds the channel still listened to, and gets what it missed once", async () => {
  const channel = "user:lin:storm";
  const token = await server.token({ sub: "lin", publish: ["user:lin:*"] });
  const publisher = await connectAs(server.wsUrl, token);
  const first = await connectAs(server.wsUrl, token);
  const ack = (await first.subscribe(channel)).payload;
  first.close();
  await waitFor(() => server.app.gateway.totalSubscriptions === 0, "the server to release the closed socket's subscription");
  // The last subscriber is gone: the node keeps listening.
  await publisher.request("user:lin:storm", { n: 1 });
  await publisher.request("user:lin:storm", { n: 2 });
  expect(counting.unlistens.get(channel)).toBeUndefined();

  const second = await connectAs(server.wsUrl, token);
  const resumed = (await second.subscribe(channel, { since: Number(ack.seq), epoch: String(ack.epoch) })).payload;
  expect(resumed.recovered).toBe(true);
  expect(resumed.replayed).toBe(2);
  const replayed = [await second.next((frame) => frame.channel === channel), await second.next((frame) => frame.channel === channel)];
  expect(replayed.map((frame) => frame.payload.n)).toEqual([1, 2]);
  await publisher.request("user:lin:storm", { n: 3 });
  expect((await second.next((frame) => frame.channel === channel)).payload.n).toBe(3);
  expect(counting.listens.get(channel)).toBe(1);

  // An unsubscribe leaves it listened to as well; subscribing again does not listen twice.
  await second.request("subscription", { action: "unsubscribe", channel });
  await second.subscribe(channel);
  expect(counting.listens.get(channel)).toBe(1);
  expect(counting.unlistens.get(channel)).toBeUndefined();
  for (const client of [publisher, second]) client.close();
});

test("past its bound the channel idle longest is unlistened at once, and every lingering one after its time", async () => {
  const { broker, unlistens } = countingBroker();
  const gateway = directGateway(broker, { linger: { ms: 50, max: 2 } });
  try {
    const connection = directConnection("c1");
    gateway.register(connection);
    for (const channel of ["a", "b", "c"]) await gateway.subscribe(connection, `user:lin:${channel}`, {});
    for (const channel of ["a", "b", "c"]) gateway.unsubscribe(connection, `user:lin:${channel}`);
    expect([...unlistens.keys()]).toEqual(["user:lin:a"]);
    await waitFor(() => unlistens.size === 3, "the lingering channels to be unlistened by the tick");
    expect([...unlistens.values()]).toEqual([1, 1, 1]);
  } finally {
    gateway.shutdown();
  }
});
