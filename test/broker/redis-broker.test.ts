// The Redis engine: the shared Broker contract, then several nodes on one Redis, the control bus and outages.

import { afterAll, afterEach, describe, expect, test } from "bun:test";
import { RedisClient, type Subprocess } from "bun";
import type { Broker, Publication } from "../../src/broker/broker.ts";
import { RedisBroker, channelKeys, type RedisBrokerOptions } from "../../src/broker/redis-broker.ts";
import { RedisTimeoutError } from "../../src/broker/redis-connection.ts";
import { RedisControlBus, nodeChannel } from "../../src/broker/redis-control-bus.ts";
import { createLogger } from "../../src/observability/log.ts";
import { ErrorCode, ProtocolError, type ControlReply, type ControlRequest } from "../../src/protocol/index.ts";
import { deleteRedisKeys, explainSkip, freePort, randomPrefix, testRedisUrl } from "../helpers/services.ts";
import { waitFor } from "../helpers/wait.ts";
import { describeBrokerContract } from "./broker.contract.ts";

const redisUrl = testRedisUrl;
explainSkip("the Redis broker tests", ["redis"]);
const deleteKeys = deleteRedisKeys;

/** What `promise` rejects with; a promise that resolves fails the test. */
async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error("expected a rejection");
}

/**
 * An `unavailable` error, and how the call got it: `timedOut` when it waited out the command timeout
 * (Redis silent), not when it failed without waiting (Redis known to be unreachable). The cause says
 * which, so no clock is read; a call that hangs fails the test by the test's own timeout.
 */
function expectUnavailable(error: unknown, how: "timedOut" | "atOnce"): void {
  expect(error).toBeInstanceOf(ProtocolError);
  expect((error as ProtocolError).code).toBe(ErrorCode.unavailable);
  expect((error as ProtocolError).cause instanceof RedisTimeoutError).toBe(how === "timedOut");
}

describe.skipIf(!redisUrl)("RedisBroker", () => {
  const url = redisUrl!;
  const cleanups: Array<() => Promise<void>> = [];

  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  /** Brokers sharing one fresh prefix: the nodes of one deployment. */
  async function nodes(count: number, options: Partial<RedisBrokerOptions> = {}): Promise<RedisBroker[]> {
    const prefix = randomPrefix();
    cleanups.push(() => deleteKeys(url, prefix));
    const brokers: RedisBroker[] = [];
    for (let index = 0; index < count; index++) {
      const broker = await RedisBroker.connect({ url, prefix, historySize: 100, historyTtlS: 60, ...options });
      cleanups.push(() => broker.close());
      brokers.push(broker);
    }
    return brokers;
  }

  function collect(broker: Broker): Publication[] {
    const received: Publication[] = [];
    broker.onPublication((publication) => received.push(publication));
    return received;
  }

  describeBrokerContract("RedisBroker", async ({ historySize }) => {
    const prefix = randomPrefix();
    const broker = await RedisBroker.connect({ url, prefix, historySize, historyTtlS: 60 });
    return {
      broker,
      cleanup: async () => {
        await broker.close();
        await deleteKeys(url, prefix);
      },
    };
  });

  test("publishes from two nodes at once share one gapless seq, and each node hears all in order", async () => {
    const [a, b] = await nodes(2);
    const receivedByA = collect(a!);
    const receivedByB = collect(b!);
    await Promise.all([a!.listen("shared"), b!.listen("shared")]);
    const results = await Promise.all(
      Array.from({ length: 200 }, (_, index) => (index % 2 === 0 ? a! : b!).publish("shared", `{"i":${index}}`, `connection-${index}`)),
    );
    const expected = Array.from({ length: 200 }, (_, index) => index + 1);
    expect(results.map((publication) => publication.seq).sort((x, y) => x - y)).toEqual(expected);
    expect(new Set(results.map((publication) => publication.epoch)).size).toBe(1);
    await waitFor(() => receivedByA.length === 200 && receivedByB.length === 200, "200 publications on both nodes");
    expect(receivedByA.map((publication) => publication.seq)).toEqual(expected);
    expect(receivedByB.map((publication) => publication.seq)).toEqual(expected);
    const bySeq = new Map(results.map((publication) => [publication.seq, publication]));
    for (const publication of receivedByB) expect(publication).toEqual(bySeq.get(publication.seq)!);
  });

  test("sync on one node covers what another node committed before the call, for concurrent callers too", async () => {
    const [a, b] = await nodes(2);
    const received = collect(b!);
    await b!.listen("busy");
    let stop = false;
    const publishing = (async () => {
      while (!stop) await Promise.all([a!.publish("busy", "{}"), a!.publish("busy", "{}")]);
    })();
    const failures: string[] = [];
    // Callers overlap, so most join a marker round another caller opened: none may be answered by a marker sent before it came.
    await Promise.all(
      Array.from({ length: 8 }, async () => {
        for (let round = 0; round < 40; round++) {
          const { seq } = await b!.state("busy");
          await b!.sync();
          const delivered = received.at(-1)?.seq ?? 0;
          if (delivered < seq) failures.push(`state said ${seq}, only ${delivered} delivered after sync`);
        }
      }),
    );
    stop = true;
    await publishing;
    expect(failures).toEqual([]);
  });

  test("a node recovers what another node published", async () => {
    const [a, b] = await nodes(2);
    for (let index = 1; index <= 5; index++) await a!.publish("thread:t1", `{"i":${index}}`, "connection-a");
    const state = await b!.state("thread:t1");
    expect(state.seq).toBe(5);
    const recovery = await b!.recover("thread:t1", 2, state.epoch);
    expect(recovery.publications?.map((publication) => [publication.seq, publication.payload, publication.origin])).toEqual([
      [3, '{"i":3}', "connection-a"],
      [4, '{"i":4}', "connection-a"],
      [5, '{"i":5}', "connection-a"],
    ]);
  });

  test("two nodes asking for a fresh channel's state at once agree on one epoch", async () => {
    const [a, b] = await nodes(2);
    for (let round = 0; round < 20; round++) {
      const channel = `fresh-${round}`;
      const [fromA, fromB, recovered] = await Promise.all([a!.state(channel), b!.state(channel), b!.recover(channel, 0, "x")]);
      expect(fromA).toEqual({ seq: 0, epoch: fromB.epoch });
      expect(recovered.state).toEqual(fromA);
    }
  });

  test("history size 0 keeps nothing: only a resume from the latest seq succeeds", async () => {
    const [broker] = await nodes(1, { historySize: 0 });
    await broker!.publish("none", "{}");
    await broker!.publish("none", "{}");
    const { epoch } = await broker!.state("none");
    expect((await broker!.recover("none", 1, epoch)).publications).toBeUndefined();
    expect((await broker!.recover("none", 2, epoch)).publications).toEqual([]);
  });

  test("a channel's keys carry the history TTL and share one hash tag", async () => {
    const [broker] = await nodes(1, { historyTtlS: 120 });
    await broker!.publish("ttl", "{}");
    const keys = channelKeys(broker!.prefix, "ttl");
    const client = new RedisClient(url);
    await client.connect();
    for (const key of [keys.meta, keys.history]) {
      const ttl = (await client.send("TTL", [key])) as number;
      expect(ttl).toBeGreaterThan(100);
      expect(ttl).toBeLessThanOrEqual(120);
      expect(key).toContain("{ttl}");
    }
    client.close();
  });

  test("a channel whose keys expired starts over with a new epoch", async () => {
    const [broker] = await nodes(1);
    const before = await broker!.publish("expiring", "{}");
    const keys = channelKeys(broker!.prefix, "expiring");
    const client = new RedisClient(url);
    await client.connect();
    await client.send("DEL", [keys.meta]);
    client.close();
    const after = await broker!.publish("expiring", "{}");
    expect(after.seq).toBe(1);
    expect(after.epoch).not.toBe(before.epoch);
    expect((await broker!.recover("expiring", 0, after.epoch)).publications?.map((publication) => publication.seq)).toEqual([1]);
  });

  test("listen and unlisten of one channel interleaved without waiting end as the last call says", async () => {
    const [broker] = await nodes(1);
    const received = collect(broker!);
    await Promise.all([broker!.listen("flip"), broker!.unlisten("flip"), broker!.listen("flip"), broker!.unlisten("flip"), broker!.listen("flip")]);
    const client = new RedisClient(url);
    await client.connect();
    const live = channelKeys(broker!.prefix, "flip").live;
    expect(await client.send("PUBSUB", ["NUMSUB", live])).toEqual([live, 1]);
    await broker!.publish("flip", "{}");
    await waitFor(() => received.length === 1, "the publication");
    await Promise.all([broker!.unlisten("flip"), broker!.listen("flip"), broker!.unlisten("flip")]);
    expect(await client.send("PUBSUB", ["NUMSUB", live])).toEqual([live, 0]);
    client.close();
  });

  describe("control bus", () => {
    const stop = (messageId: string): ControlRequest => ({ action: "stop", userId: "una", messageId });

    /** Two nodes' buses, logging together; node-b refuses "refuse", fails on "crash", answers garbled to "garbled". */
    async function buses() {
      const [a, b] = await nodes(2);
      const logs: Record<string, unknown>[] = [];
      const logger = createLogger("warn", (line) => logs.push(JSON.parse(line)));
      const busA = await RedisControlBus.connect({ nodeId: "node-a", prefix: a!.prefix, broker: a!, logger });
      const busB = await RedisControlBus.connect({ nodeId: "node-b", prefix: b!.prefix, broker: b!, logger });
      cleanups.push(() => busA.close(), () => busB.close());
      const received: ControlRequest[] = [];
      busB.onRequest(async (request) => {
        received.push(request);
        if (request.messageId === "refuse") throw new ProtocolError(ErrorCode.forbidden, "not yours");
        if (request.messageId === "crash") throw new Error("secret detail");
        if (request.messageId === "garbled") return { ok: "yes" } as unknown as ControlReply;
        return { ok: true };
      });
      return { busA, busB, received, logs, prefix: b!.prefix };
    }

    test("a request reaches the other node and its answer comes back", async () => {
      const { busA, received } = await buses();
      expect(busA.singleNode).toBe(false);
      expect(await busA.request("node-b", stop("m1"), 2000)).toEqual({ ok: true });
      const decide: ControlRequest = { action: "decide", userId: "una", messageId: "m2", callId: "c1", approved: false, reason: "not now" };
      expect(await busA.request("node-b", decide, 2000)).toEqual({ ok: true });
      expect(received).toEqual([stop("m1"), decide]);
      const ids = Array.from({ length: 20 }, (_, index) => `m${index}`);
      const answers = await Promise.all(ids.map((id) => busA.request("node-b", stop(id), 2000)));
      expect(answers).toEqual(ids.map(() => ({ ok: true })));
      expect(received.slice(2).map((request) => request.messageId)).toEqual(ids);
    });

    test("a ProtocolError thrown by the handler is re-thrown with its code; anything else as internal", async () => {
      const { busA } = await buses();
      const refused = await rejection(busA.request("node-b", stop("refuse"), 2000));
      expect(refused).toBeInstanceOf(ProtocolError);
      expect(refused).toMatchObject({ code: ErrorCode.forbidden, message: "not yours" });
      const crashed = await rejection(busA.request("node-b", stop("crash"), 2000));
      expect(crashed).toMatchObject({ code: ErrorCode.internal });
      expect((crashed as Error).message).not.toContain("secret");
    });

    test("a request that does not match the schema is refused with invalid_message and logged, never handled", async () => {
      const { busA, received, logs } = await buses();
      const malformed = { action: "stop", userId: "una" } as unknown as ControlRequest;
      const refused = await rejection(busA.request("node-b", malformed, 2000));
      expect(refused).toBeInstanceOf(ProtocolError);
      expect(refused).toMatchObject({ code: ErrorCode.invalidMessage, message: "control request does not match the protocol" });
      expect(received).toEqual([]);
      expect(logs).toContainEqual(expect.objectContaining({ msg: "refused a malformed control request", from: "node-a", details: ["/messageId"] }));
      expect(await busA.request("node-b", stop("m1"), 2000)).toEqual({ ok: true });
    });

    test("a malformed answer is internal to the requester and logged", async () => {
      const { busA, logs } = await buses();
      const garbled = await rejection(busA.request("node-b", stop("garbled"), 2000));
      expect(garbled).toMatchObject({ code: ErrorCode.internal, message: "internal server error" });
      expect(logs).toContainEqual(expect.objectContaining({ msg: "refused a malformed control answer", from: "node-b", details: ["/ok"] }));
    });

    test("messages that are not control envelopes are logged and dropped; the node keeps answering", async () => {
      const { busA, logs, prefix } = await buses();
      const client = new RedisClient(url);
      await client.connect();
      for (const text of ["not json", '{"type":"request","id":"r1"}', '{"type":"answer"}', JSON.stringify([1, 2])]) {
        await client.send("PUBLISH", [nodeChannel(prefix, "node-b"), text]);
      }
      client.close();
      await waitFor(() => logs.filter((line) => line.msg === "ignored a malformed control message").length === 4, "the four messages logged");
      expect(await busA.request("node-b", stop("m1"), 2000)).toEqual({ ok: true });
    });

    test("no answer within the timeout, as from a node that is gone, is unavailable", async () => {
      const { busA, busB } = await buses();
      // The request's own timer gave up on it: only that timer says "did not answer within".
      const nowhere = await rejection(busA.request("node-nowhere", stop("m"), 300));
      expect(nowhere).toBeInstanceOf(ProtocolError);
      expect(nowhere).toMatchObject({ code: ErrorCode.unavailable, message: "node node-nowhere did not answer within 300 ms" });
      await busB.close();
      expect(await rejection(busA.request("node-b", stop("m1"), 300))).toMatchObject({
        code: ErrorCode.unavailable,
        message: "node node-b did not answer within 300 ms",
      });
    });
  });

  test("after Redis drops the subscriber connections, every listened channel is subscribed again", async () => {
    const [a, b] = await nodes(2);
    const bus = await RedisControlBus.connect({ nodeId: "node-b", prefix: b!.prefix, broker: b! });
    cleanups.push(() => bus.close());
    bus.onRequest(async () => ({ ok: true }) as const);
    const received = collect(b!);
    await b!.listen("kept");
    await b!.publish("kept", '{"before":true}');
    await waitFor(() => received.length === 1, "the publication before the drop");

    const admin = new RedisClient(url);
    await admin.connect();
    const live = channelKeys(b!.prefix, "kept").live;
    const killed = (await admin.send("CLIENT", ["KILL", "TYPE", "pubsub"])) as number;
    expect(killed).toBeGreaterThanOrEqual(1);
    await waitFor(async () => ((await admin.send("PUBSUB", ["NUMSUB", live])) as [string, number])[1] === 1, "re-subscription");
    admin.close();

    await a!.publish("kept", '{"after":true}');
    await waitFor(() => received.length === 2, "a publication after the reconnect");
    expect(received.map((publication) => publication.payload)).toEqual(['{"before":true}', '{"after":true}']);
    await waitFor(() => b!.ready(), "ready");
    // The node channel of the control bus came back too.
    const otherBus = await RedisControlBus.connect({ nodeId: "node-a", prefix: a!.prefix, broker: a! });
    cleanups.push(() => otherBus.close());
    expect(await otherBus.request("node-b", { action: "stop", userId: "una", messageId: "m" }, 2000)).toEqual({ ok: true });
  });

  describe("outage", () => {
    let server: Subprocess | undefined;
    let port = 0;

    async function startServer(): Promise<void> {
      server = Bun.spawn(["redis-server", "--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"], {
        stdout: "ignore",
        stderr: "ignore",
      });
      await waitFor(
        async () => {
          const client = new RedisClient(`redis://127.0.0.1:${port}`, { autoReconnect: false, connectionTimeout: 500 });
          try {
            await client.connect();
            return (await client.send("PING", [])) === "PONG";
          } catch {
            return false;
          } finally {
            client.close();
          }
        },
        "redis-server to start",
        { intervalMs: 25 },
      );
    }

    afterAll(() => {
      server?.kill("SIGKILL");
    });

    test("while Redis is down every call fails fast with unavailable; once it is back the same broker serves again", async () => {
      port = freePort();
      await startServer();
      const warnings: string[] = [];
      const logger = createLogger("warn", (line) => warnings.push(JSON.parse(line).msg as string));
      const broker = await RedisBroker.connect({ url: `redis://127.0.0.1:${port}`, prefix: randomPrefix(), historySize: 10, historyTtlS: 60, logger });
      cleanups.push(() => broker.close());
      const received = collect(broker);
      await broker.listen("before");
      await broker.publish("before", '{"n":1}');
      await waitFor(() => received.length === 1, "the publication before the outage");

      server!.kill("SIGKILL");
      await server!.exited;

      const calls = await Promise.all([
        rejection(broker.publish("before", '{"n":2}')),
        rejection(broker.state("before")),
        rejection(broker.recover("before", 0, "x")),
        rejection(broker.listen("during")),
        rejection(broker.sync()),
      ]);
      // Fast: each failed because Redis is unreachable, none by waiting out the command timeout.
      for (const call of calls) expectUnavailable(call, "atOnce");
      expect((calls[0] as ProtocolError).message).toBe("the broker (Redis) is unavailable; retry later");
      expect(await broker.ready()).toBe(false);
      // Still failing, still without waiting, a while into the outage: after a reconnection attempt failed.
      await waitFor(() => warnings.includes("Redis unreachable; retrying every second"), "a reconnection attempt to fail");
      expectUnavailable(await rejection(broker.publish("before", "{}")), "atOnce");

      await startServer();
      await waitFor(() => broker.ready(), "the broker to reconnect");
      // The restarted server lost everything, so the channel starts a new epoch at seq 1.
      const published = await broker.publish("before", '{"n":3}');
      expect(published.seq).toBe(1);
      await waitFor(() => received.length === 2, "delivery on a channel listened before the outage");
      expect(received[1]!.payload).toBe('{"n":3}');
      await broker.listen("during");
      await broker.publish("during", "{}");
      await waitFor(() => received.length === 3, "delivery on a channel listened after the outage");
      // The barrier's own channel was subscribed again with the others.
      await broker.sync();
      expect(warnings).toContain("Redis connection lost; reconnecting");
      expect(warnings).toContain("Redis subscriber reconnected; publications sent meanwhile were not pushed to this node");
    }, 30_000);

    test("a Redis that stops answering without closing the socket fails calls after the command timeout, not never", async () => {
      if (!server || server.exitCode !== null) await startServer();
      const broker = await RedisBroker.connect({
        url: `redis://127.0.0.1:${port}`,
        prefix: randomPrefix(),
        historySize: 10,
        historyTtlS: 60,
        commandTimeoutMs: 500,
      });
      cleanups.push(() => broker.close());
      const received = collect(broker);
      await broker.listen("frozen");
      server!.kill("SIGSTOP");
      try {
        const calls = await Promise.all([rejection(broker.publish("frozen", "{}")), rejection(broker.listen("other")), rejection(broker.sync())]);
        // Not never: each call gave up when the command timeout ran out.
        for (const call of calls) expectUnavailable(call, "timedOut");
        expect(await broker.ready()).toBe(false);
      } finally {
        server!.kill("SIGCONT");
      }
      await waitFor(() => broker.ready(), "the broker to serve again");
      await broker.publish("frozen", '{"thawed":true}');
      await waitFor(() => received.some((publication) => publication.payload === '{"thawed":true}'), "delivery after the freeze");
      await broker.sync();
    }, 30_000);
  });

  test("connecting to a Redis that is not there fails with unavailable", async () => {
    const result = await rejection(
      RedisBroker.connect({ url: "redis://127.0.0.1:1", prefix: randomPrefix(), historySize: 1, historyTtlS: 1, commandTimeoutMs: 500 }),
    );
    expectUnavailable(result, "atOnce");
  });

  test("node channels are named after the prefix and node id", () => {
    expect(nodeChannel("p:", "n1")).toBe("p:node:n1");
  });
});
