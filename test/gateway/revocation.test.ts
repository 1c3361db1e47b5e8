// A subscribe whose thread access was checked while a revocation came (docs/protocol.md section 14):
// the gateway checks the access again once the subscription is registered, where the revocation of
// any later removal finds it, so a removed member never keeps a subscription by racing the removal.

import { afterEach, expect, test } from "bun:test";
import type { ThreadRole } from "../../src/protocol/index.ts";
import { MemoryBroker } from "../../src/broker/memory-broker.ts";
import type { Gateway } from "../../src/gateway/gateway.ts";
import { directConnection, directGateway } from "../helpers/direct-gateway.ts";

const channel = "thread:t1";
const roles = new Map<string, ThreadRole>();
let gateway: Gateway;

function start(): Gateway {
  roles.clear();
  const broker = new MemoryBroker({ historySize: 100, historyTtlS: 3600, historyMaxBytes: 1024 * 1024, historyMaxChannels: 100 });
  gateway = directGateway(broker, { threadAccess: async (threadId, userId) => roles.get(`${threadId}/${userId}`) });
  return gateway;
}
afterEach(() => gateway?.shutdown());

test("a member removed while their subscribe's access was being checked is refused, not subscribed", async () => {
  const gateway = start();
  roles.set("t1/bob", "viewer");
  const bob = directConnection("b1", "bob");
  gateway.register(bob);
  // The caller takes the mark, then checks access (allowed), and meanwhile the owner removes bob.
  const mark = gateway.revocationMark();
  roles.delete("t1/bob");
  gateway.revokeThread("t1", "bob");
  await expect(Promise.resolve(gateway.subscribe(bob, channel, { accessCheckedAt: mark }))).rejects.toThrow(/no subscribe permission/);
  expect(bob.isSubscribed(channel)).toBe(false);
  expect(gateway.subscribers(channel)).toEqual([]);
});

test("a revocation of someone else, or none at all, leaves a checked subscribe as it was", async () => {
  const gateway = start();
  roles.set("t1/bob", "viewer");
  const bob = directConnection("b1", "bob");
  gateway.register(bob);
  await gateway.subscribe(bob, channel, { accessCheckedAt: gateway.revocationMark() });
  expect(bob.isSubscribed(channel)).toBe(true);

  const carol = directConnection("c1", "carol");
  gateway.register(carol);
  roles.set("t1/carol", "editor");
  const mark = gateway.revocationMark();
  gateway.revokeThread("t1", "dave");
  await gateway.subscribe(carol, channel, { accessCheckedAt: mark });
  expect(carol.isSubscribed(channel)).toBe(true);
  expect(gateway.subscribers(channel).map((connection) => connection.id).sort()).toEqual(["b1", "c1"]);

  // A revocation after the subscription is registered ends it as before.
  roles.delete("t1/bob");
  gateway.revokeThread("t1", "bob");
  expect(bob.isSubscribed(channel)).toBe(false);
  expect(carol.isSubscribed(channel)).toBe(true);
});
