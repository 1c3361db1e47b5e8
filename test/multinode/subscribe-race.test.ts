// Subscribing on one node while another node keeps publishing: the ack (or the replay) and the live
// publications that follow it join without a gap and without a seq delivered twice (docs/protocol.md section 4).

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { deleteRedisKeys, explainSkip, randomPrefix, testRedisUrl } from "../helpers/services.ts";
import { waitFor } from "../helpers/wait.ts";
import { connectAs, type TestClient } from "../helpers/ws-client.ts";

const skip = explainSkip("the subscribe-under-load test", ["redis"]);

const CHANNEL = "user:rita:ticker";
const CLIENTS = 16;
const ROUNDS = 20;
/** Live publications each round waits for after its ack: a doubled seq comes right after going live. */
const LIVE_PER_ROUND = 8;

describe.skipIf(skip)("subscribing while another node publishes", () => {
  const prefix = randomPrefix();
  let publishingNode: TestServer;
  let subscribingNode: TestServer;

  beforeAll(async () => {
    const env = { REDIS_URL: testRedisUrl!, REDIS_PREFIX: prefix, LOG_LEVEL: "warn" };
    publishingNode = await startTestServer(env);
    subscribingNode = await startTestServer(env);
  });
  afterAll(async () => {
    await publishingNode?.stop();
    await subscribingNode?.stop();
    await deleteRedisKeys(testRedisUrl!, prefix);
  });

  interface Round {
    /** Every seq from the first one owed to the last one received, once each. */
    expected: number[];
    seen: number[];
    epoch: string;
  }

  /** One subscribe (fresh, or resumed from `since`) and the seqs delivered after its ack, until LIVE_PER_ROUND live ones came. */
  async function round(client: TestClient, resume: { since: number; epoch: string } | undefined): Promise<Round> {
    const ack = await client.subscribe(CHANNEL, resume ?? {});
    expect(ack.payload).toMatchObject(resume ? { status: "subscribed", recovered: true } : { status: "subscribed" });
    const acked = ack.payload.seq as number;
    const first = (resume?.since ?? acked) + 1;
    // Polled rather than taken with next(), so every publication stays in the queue, in arrival order.
    const live = () => client.pending((frame) => frame.channel === CHANNEL && frame.seq! >= acked + LIVE_PER_ROUND).length > 0;
    await waitFor(live, "live publications");
    // Publications sent before the unsubscribe's answer are all queued once it is here.
    await client.request("subscription", { action: "unsubscribe", channel: CHANNEL });
    const seen = client.drain((frame) => frame.channel === CHANNEL).map((frame) => frame.seq!);
    const last = Math.max(...seen, acked + LIVE_PER_ROUND);
    return { expected: Array.from({ length: last - first + 1 }, (_, index) => first + index), seen, epoch: ack.payload.epoch };
  }

  test("every subscriber sees each seq exactly once, fresh or resuming with since/epoch", async () => {
    let stop = false;
    // About two publications per millisecond from the other node, as in the benchmark that found the doubling.
    const publishing = (async () => {
      let n = 0;
      while (!stop) {
        void publishingNode.app.gateway.publish(CHANNEL, JSON.stringify({ n: ++n }));
        void publishingNode.app.gateway.publish(CHANNEL, JSON.stringify({ n: ++n }));
        await Bun.sleep(1);
      }
    })();
    try {
      const failures: string[] = [];
      let subscribes = 0;
      await Promise.all(
        Array.from({ length: CLIENTS }, async (_, index) => {
          const client = await connectAs(subscribingNode.wsUrl, await subscribingNode.token({ sub: "rita" }));
          let resumeFrom: { since: number; epoch: string } | undefined;
          for (let count = 0; count < ROUNDS; count++) {
            // Alternate fresh subscribes and resumes from a little behind the last seq seen.
            const resume = count % 2 === 1 ? resumeFrom : undefined;
            const result = await round(client, resume);
            subscribes++;
            if (result.seen.join() !== result.expected.join()) {
              const label = `client ${index} round ${count}${resume ? ` since ${resume.since}` : ""}`;
              failures.push(`${label}: saw ${result.seen.join()}; expected ${result.expected.join()}`);
            }
            const lastSeen = result.seen.at(-1) ?? 0;
            resumeFrom = { since: Math.max(0, lastSeen - 3), epoch: result.epoch };
          }
          client.close();
        }),
      );
      expect({ failures, failed: `${failures.length} of ${subscribes}` }).toEqual({ failures: [], failed: `0 of ${subscribes}` });
    } finally {
      stop = true;
      await publishing;
    }
  }, 20_000);
});
