// The pub/sub barrier's bookkeeping, on fake connections: which marker answers which caller, and the timeout.

import { expect, test } from "bun:test";
import { RedisBarrier } from "../../src/broker/redis-barrier.ts";
import { RedisTimeoutError, type RedisConnection } from "../../src/broker/redis-connection.ts";
import type { MessageHandler, RedisSubscriber } from "../../src/broker/redis-subscriber.ts";
import { ErrorCode, ProtocolError } from "../../src/protocol/index.ts";
import { settledNow } from "../helpers/settled-now.ts";

const CHANNEL = "p:sync:node";

/** A barrier whose PUBLISHes are recorded and whose markers come back only when the test says so. */
async function fakeBarrier(timeoutMs = 2000): Promise<{ barrier: RedisBarrier; markers: string[]; deliver(marker: string): void }> {
  const markers: string[] = [];
  let handler: MessageHandler | undefined;
  const commands = {
    send: async (command: string, args: string[]) => {
      expect([command, args[0]]).toEqual(["PUBLISH", CHANNEL]);
      markers.push(args[1]!);
      return 1;
    },
  } as unknown as RedisConnection;
  const subscriber = {
    subscribe: async (channel: string, onMessage: MessageHandler) => {
      expect(channel).toBe(CHANNEL);
      handler = onMessage;
    },
  } as unknown as RedisSubscriber;
  const barrier = await RedisBarrier.open(commands, subscriber, CHANNEL, timeoutMs);
  return { barrier, markers, deliver: (marker) => handler!(marker) };
}

test("callers arriving while a marker is in flight share the next marker, not the one in flight", async () => {
  const { barrier, markers, deliver } = await fakeBarrier();
  const first = barrier.wait();
  expect(markers).toEqual(["1"]);
  // The first marker may have run in Redis before these callers read anything: it cannot answer them.
  const later = [barrier.wait(), barrier.wait(), barrier.wait()];
  expect(markers).toEqual(["1"]);
  expect((await settledNow(first)).status).toBe("pending");
  deliver("1");
  expect((await settledNow(first)).status).toBe("fulfilled");
  for (const caller of later) expect((await settledNow(caller)).status).toBe("pending");
  expect(markers).toEqual(["1", "2"]);
  deliver("2");
  await Promise.all(later);
  // Nobody waiting: no marker goes out.
  expect(markers).toEqual(["1", "2"]);
});

test("a marker that does not come back fails its callers with unavailable, and a late one is ignored", async () => {
  const { barrier, markers, deliver } = await fakeBarrier(50);
  const error = await barrier.wait().then(
    () => undefined,
    (reason: unknown) => reason,
  );
  expect(error).toBeInstanceOf(ProtocolError);
  expect((error as ProtocolError).code).toBe(ErrorCode.unavailable);
  // Failed by the barrier's own timeout, the only thing that says "within 50 ms"; a hang would fail the test's timeout.
  expect((error as ProtocolError).cause).toBeInstanceOf(RedisTimeoutError);
  expect(((error as ProtocolError).cause as Error).message).toContain("within 50 ms");
  const next = barrier.wait();
  expect(markers).toEqual(["1", "2"]);
  deliver("1");
  expect((await settledNow(next)).status).toBe("pending");
  deliver("2");
  await next;
});

test("closing fails whoever waits, and later calls at once", async () => {
  const { barrier } = await fakeBarrier();
  const waiting = barrier.wait();
  barrier.close();
  await expect(waiting).rejects.toMatchObject({ code: ErrorCode.unavailable });
  await expect(barrier.wait()).rejects.toMatchObject({ code: ErrorCode.unavailable });
});
