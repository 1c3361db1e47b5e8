// The hub's pacing (docs/protocol.md section 14.2): however fast a channel changes, a watcher gets at most
// one presence frame per 100 ms of the server's clock, and together they carry every change.

import { expect, test } from "bun:test";
import { principalOf } from "../../src/auth/principal.ts";
import { MemoryPresence } from "../../src/broker/memory-presence.ts";
import type { Connection } from "../../src/gateway/connection.ts";
import { PresenceHub } from "../../src/gateway/presence-hub.ts";
import { createLogger } from "../../src/observability/log.ts";
import { afterTimersDue } from "../helpers/timers-due.ts";

test("a steady stream of joins reaches a watcher as at most one frame per 100 ms, carrying every join", async () => {
  const engine = new MemoryPresence();
  const hub = new PresenceHub(engine, async () => undefined, createLogger("silent"));
  const sent: { at: number; frame: { presence: Record<string, any> } }[] = [];
  const watcher = { id: "w", principal: principalOf({ sub: "wes" }), closed: false, send: (text: string) => sent.push({ at: performance.now(), frame: JSON.parse(text) }) };
  await hub.prepare("room");
  hub.enter(watcher as unknown as Connection, "room", true);
  const started = performance.now();
  let joined = 0;
  // Joins every couple of milliseconds for about half a second.
  while (performance.now() - started < 500) {
    engine.join("room", { user: "u", client: `c${joined++}`, since: 0 });
    await Bun.sleep(2);
  }
  await afterTimersDue(100);
  // The hub spaces frames by its own clock; a slow machine only spreads them further. The half millisecond
  // is what recording a send may add after the hub read the clock.
  for (let index = 1; index < sent.length; index++) expect(sent[index]!.at - sent[index - 1]!.at).toBeGreaterThanOrEqual(99.5);
  const clients = sent.flatMap(({ frame }) => (frame.presence.action === "diff" ? frame.presence.joins.map((join: { client: string }) => join.client) : [frame.presence.client]));
  expect(clients.filter((client) => client !== "w")).toEqual(Array.from({ length: joined }, (_, index) => `c${index}`));
  expect(sent.length).toBeLessThan(joined);
});
