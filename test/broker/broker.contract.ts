// The Broker contract, run against every engine: what the gateway may rely on, whichever broker it is given.

import { afterEach, describe, expect, test } from "bun:test";
import type { Broker, Publication } from "../../src/broker/broker.ts";
import { waitFor } from "../helpers/wait.ts";

export interface BrokerContractOptions {
  /** The history size the factory must give the broker; the trimming test depends on it. */
  historySize: number;
}

export interface BrokerUnderTest {
  broker: Broker;
  cleanup(): Promise<void>;
}

const HISTORY_SIZE = 3;

export function describeBrokerContract(
  name: string,
  create: (options: BrokerContractOptions) => Promise<BrokerUnderTest>,
): void {
  describe(`Broker contract: ${name}`, () => {
    let current: BrokerUnderTest | undefined;
    let received: Publication[] = [];
    let counter = 0;
    // Fresh names per test, so engines that outlive a test (Redis) never see a previous test's channel.
    const channel = (label: string) => `${label}-${Date.now().toString(36)}-${++counter}`;

    const start = async (): Promise<Broker> => {
      current = await create({ historySize: HISTORY_SIZE });
      received = [];
      current.broker.onPublication((publication) => received.push(publication));
      return current.broker;
    };

    afterEach(async () => {
      await current?.cleanup();
      current = undefined;
    });

    test("seq starts at 1 and is gapless per channel", async () => {
      const broker = await start();
      const a = channel("a");
      const b = channel("b");
      const seqs: number[] = [];
      for (let index = 0; index < 4; index++) seqs.push((await broker.publish(a, `{"i":${index}}`)).seq);
      seqs.push((await broker.publish(b, "{}")).seq);
      seqs.push((await broker.publish(a, "{}")).seq);
      expect(seqs).toEqual([1, 2, 3, 4, 1, 5]);
      expect((await broker.state(a)).seq).toBe(5);
      expect((await broker.state(b)).seq).toBe(1);
    });

    test("concurrent publishes on one channel get distinct consecutive seqs", async () => {
      const broker = await start();
      const a = channel("a");
      const results = await Promise.all(Array.from({ length: 20 }, (_, index) => broker.publish(a, `{"i":${index}}`)));
      expect(results.map((publication) => publication.seq).sort((x, y) => x - y)).toEqual(Array.from({ length: 20 }, (_, index) => index + 1));
    });

    test("an unknown channel is at seq 0 with an epoch that stays until history is lost", async () => {
      const broker = await start();
      const a = channel("fresh");
      const first = await broker.state(a);
      expect(first.seq).toBe(0);
      expect(first.epoch.length).toBeGreaterThan(0);
      const published = await broker.publish(a, "{}");
      expect(published.epoch).toBe(first.epoch);
      expect(await broker.state(a)).toEqual({ seq: 1, epoch: first.epoch });
    });

    test("a listening broker hands every publication to its listener with seq, epoch, payload and origin", async () => {
      const broker = await start();
      const a = channel("live");
      await broker.listen(a);
      const first = await broker.publish(a, '{"text":"hello"}', "connection-1");
      const second = await broker.publish(a, '{"text":"again"}');
      await waitFor(() => received.length >= 2, "two publications");
      expect(received).toEqual([
        { channel: a, seq: 1, epoch: first.epoch, payload: '{"text":"hello"}', origin: "connection-1" },
        { channel: a, seq: 2, epoch: second.epoch, payload: '{"text":"again"}', origin: undefined },
      ]);
    });

    test("payloads arrive as the same JSON text, newlines and unicode included", async () => {
      const broker = await start();
      const a = channel("text");
      await broker.listen(a);
      const payload = JSON.stringify({ text: "line one\nline two", emoji: "héllo 🌍", quote: '"}\n{' });
      await broker.publish(a, payload, "origin with | and \n");
      await waitFor(() => received.length >= 1, "the publication");
      expect(received[0]!.payload).toBe(payload);
      expect(received[0]!.origin).toBe("origin with | and \n");
      const { epoch } = await broker.state(a);
      expect((await broker.recover(a, 0, epoch)).publications?.[0]).toMatchObject({ payload, origin: "origin with | and \n" });
    });

    test("listen resolves only once a publication right after it cannot be missed", async () => {
      const broker = await start();
      for (let round = 0; round < 5; round++) {
        const a = channel("race");
        await broker.listen(a);
        await broker.publish(a, `{"round":${round}}`);
        await waitFor(() => received.some((publication) => publication.channel === a), `round ${round}`);
        expect(received.filter((publication) => publication.channel === a).map((publication) => publication.payload)).toEqual([`{"round":${round}}`]);
      }
    });

    test("unlisten stops delivery", async () => {
      const broker = await start();
      const a = channel("quiet");
      const marker = channel("marker");
      await broker.listen(a);
      await broker.listen(marker);
      await broker.publish(a, "{}");
      await waitFor(() => received.length === 1, "the publication while listening");
      await broker.unlisten(a);
      await broker.publish(a, "{}");
      // Publications of one engine reach the listener in order, so once the marker is here the other would be too.
      await broker.publish(marker, "{}");
      await waitFor(() => received.some((publication) => publication.channel === marker), "the marker");
      expect(received.filter((publication) => publication.channel === a)).toHaveLength(1);
    });

    test("sync resolves only once every publication committed before it has reached the listener", async () => {
      const broker = await start();
      const a = channel("sync");
      await broker.listen(a);
      for (let round = 1; round <= 5; round++) {
        await Promise.all(Array.from({ length: 20 }, (_, index) => broker.publish(a, `{"i":${index}}`)));
        await broker.sync();
        // No waiting here: what the gateway reads after sync() must already be in.
        expect(received.map((publication) => publication.seq)).toEqual(Array.from({ length: 20 * round }, (_, index) => index + 1));
      }
    });

    test("concurrent syncs all resolve, each after the publications before it", async () => {
      const broker = await start();
      const a = channel("syncs");
      await broker.listen(a);
      const syncs = Array.from({ length: 10 }, async (_, index) => {
        const { seq } = await broker.publish(a, `{"i":${index}}`);
        await broker.sync();
        expect(received.some((publication) => publication.seq === seq)).toBe(true);
      });
      await Promise.all(syncs);
      expect(received).toHaveLength(10);
    });

    test("recover replays exactly the publications after since", async () => {
      const broker = await start();
      const a = channel("recover");
      for (let index = 1; index <= 3; index++) await broker.publish(a, `{"i":${index}}`, index === 2 ? "connection-2" : undefined);
      const { epoch } = await broker.state(a);
      const recovery = await broker.recover(a, 1, epoch);
      expect(recovery.state).toEqual({ seq: 3, epoch });
      expect(recovery.publications).toEqual([
        { channel: a, seq: 2, epoch, payload: '{"i":2}', origin: "connection-2" },
        { channel: a, seq: 3, epoch, payload: '{"i":3}', origin: undefined },
      ]);
      expect((await broker.recover(a, 0, epoch)).publications?.map((publication) => publication.seq)).toEqual([1, 2, 3]);
    });

    test("recover from the latest seq is an empty replay", async () => {
      const broker = await start();
      const a = channel("latest");
      await broker.publish(a, "{}");
      const { epoch } = await broker.state(a);
      expect(await broker.recover(a, 1, epoch)).toEqual({ state: { seq: 1, epoch }, publications: [] });
      const empty = channel("empty");
      const fresh = await broker.state(empty);
      expect((await broker.recover(empty, 0, fresh.epoch)).publications).toEqual([]);
    });

    test("recover refuses a wrong or missing epoch", async () => {
      const broker = await start();
      const a = channel("epoch");
      await broker.publish(a, "{}");
      const { epoch } = await broker.state(a);
      expect(await broker.recover(a, 0, "not-" + epoch)).toEqual({ state: { seq: 1, epoch }, publications: undefined });
      expect((await broker.recover(a, 0, undefined)).publications).toBeUndefined();
    });

    test("recover refuses since beyond the latest seq", async () => {
      const broker = await start();
      const a = channel("ahead");
      await broker.publish(a, "{}");
      const { epoch } = await broker.state(a);
      expect((await broker.recover(a, 2, epoch)).publications).toBeUndefined();
    });

    test("recover refuses when history no longer holds every publication after since", async () => {
      const broker = await start();
      const a = channel("trimmed");
      for (let index = 1; index <= HISTORY_SIZE + 2; index++) await broker.publish(a, `{"i":${index}}`);
      const { epoch } = await broker.state(a);
      expect((await broker.recover(a, 1, epoch)).publications).toBeUndefined();
      expect((await broker.recover(a, 0, epoch)).publications).toBeUndefined();
      // The oldest kept is seq 3, so since 2 is the earliest point that can still be resumed from.
      expect((await broker.recover(a, 2, epoch)).publications?.map((publication) => publication.seq)).toEqual([3, 4, 5]);
    });

    test("recover of an unknown channel is refused and leaves it at seq 0", async () => {
      const broker = await start();
      const a = channel("unknown");
      const recovery = await broker.recover(a, 0, "some-epoch");
      expect(recovery.publications).toBeUndefined();
      expect(recovery.state.seq).toBe(0);
      // The epoch handed out by recover is the one publications then carry.
      expect((await broker.publish(a, "{}")).epoch).toBe(recovery.state.epoch);
    });

    test("ready is true while the engine can serve", async () => {
      const broker = await start();
      expect(await broker.ready()).toBe(true);
    });
  });
}
