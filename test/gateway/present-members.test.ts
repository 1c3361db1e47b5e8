// A hub that keeps the node's connections on the gateway's channel entries (the memory engine) tells and
// lists exactly what a hub writing every presence to the engine does, whatever the sequence of joins,
// leaves and agent entries (docs/protocol.md section 14); the entry's members behave as a Map from
// connection to join time, whatever their shape.

import { expect, test } from "bun:test";
import fc from "fast-check";
import { principalOf } from "../../src/auth/principal.ts";
import { MemoryPresence } from "../../src/broker/memory-presence.ts";
import type { Connection } from "../../src/gateway/connection.ts";
import { PresenceHub } from "../../src/gateway/presence-hub.ts";
import { addPresent, presentConnections, removePresent, sinceOf, type PresentMembers } from "../../src/gateway/present-members.ts";
import { createLogger } from "../../src/observability/log.ts";
import { presenceChanges } from "../../src/client/frames.ts";
import type { PresenceFrame } from "../../src/protocol/presence.ts";
import { afterTimersDue } from "../helpers/timers-due.ts";
import { waitFor } from "../helpers/wait.ts";

const step = fc.oneof(
  fc.record({ kind: fc.constantFrom("enter", "exit"), index: fc.integer({ min: 0, max: 11 }) }),
  fc.record({ kind: fc.constantFrom("agent-join", "agent-leave"), index: fc.integer({ min: 0, max: 2 }) }),
);

/** The channel's members as a watcher sees them after applying `frames` in order. */
function told(frames: readonly string[]): Map<string, { user: string; state?: string }> {
  const members = new Map<string, { user: string; state?: string }>();
  for (const text of frames) {
    for (const change of presenceChanges((JSON.parse(text) as PresenceFrame).presence)) {
      if (change.action === "leave") members.delete(change.client);
      else members.set(change.client, { user: change.user, ...(change.state === undefined ? {} : { state: change.state }) });
    }
  }
  return members;
}

function side(withMembers: boolean) {
  const engine = new MemoryPresence();
  const entry: PresentMembers = { present: undefined, presentSince: 0 };
  const hub = new PresenceHub(engine, async () => undefined, createLogger("silent"), withMembers ? (channel) => (channel === "room" ? entry : undefined) : undefined);
  const frames: string[] = [];
  const connection = (index: number) => ({ id: `c${String(index).padStart(2, "0")}`, principal: principalOf({ sub: `u${index % 3}`, subscribe: ["room"] }), closed: false, send: (text: string) => frames.push(text) }) as unknown as Connection;
  const connections = Array.from({ length: 12 }, (_, index) => connection(index));
  return { engine, hub, frames, connections };
}

test("joins, leaves and pages match those of the engine alone", async () => {
  await fc.assert(
    fc.asyncProperty(fc.array(step, { minLength: 20, maxLength: 60 }), fc.integer({ min: 1, max: 5 }), async (steps, limit) => {
      const sides = [side(true), side(false)];
      for (const { hub, connections } of sides) {
        await hub.prepare("room");
        hub.enter(connections[0]!, "room", true);
      }
      for (const { kind, index } of steps) {
        for (const { engine, hub, connections } of sides) {
          // Connection 0 watches throughout; the agent's entries are written to the engine as a run does.
          if (kind === "enter") hub.enter(connections[index]!, "room", index === 0 || undefined);
          else if (kind === "exit" && index > 0) hub.exit(connections[index]!, "room");
          else if (kind === "agent-join") engine.join("room", { user: "agent", client: `m${index}`, since: index, state: "thinking" });
          else if (kind === "agent-leave") engine.leave("room", `m${index}`);
        }
      }
      const pages = await Promise.all(
        sides.map(async ({ hub, connections }) => {
          const seen: unknown[] = [];
          let cursor: string | undefined;
          do {
            const page = await hub.query(connections[0]!.principal!, "room", limit, cursor);
            expect(page.clients.length).toBeLessThanOrEqual(limit);
            // `since` is the clock's at each join: the same moment on both sides only by chance.
            seen.push(...page.clients.map(({ since, ...client }) => (expect(since).toBeNumber(), client)));
            cursor = page.next_cursor;
          } while (cursor);
          return seen;
        }),
      );
      expect(pages[0]).toEqual(pages[1]!);
      // What the watcher was told, applied: the frames' shapes depend on the moment each change falls
      // in the pacing interval, which differs between the two sides on a busy machine.
      await afterTimersDue(100);
      await waitFor(() => Bun.deepEquals(told(sides[0]!.frames), told(sides[1]!.frames)), "both sides' watchers told the same");
      expect(told(sides[0]!.frames)).toEqual(told(sides[1]!.frames));
    }),
    // Each run waits out the 100 ms pacing interval once: few runs, and room for a busy machine.
    { numRuns: 12 },
  );
}, 60_000);

test("the members keep each connection's first join time through any sequence of joins and leaves", () => {
  const connections = Array.from({ length: 12 }, (_, index) => ({ id: `c${index}` }) as Connection);
  fc.assert(
    fc.property(fc.array(fc.record({ join: fc.integer({ min: 0, max: 2 }).map((roll) => roll > 0), index: fc.integer({ min: 0, max: 11 }) }), { minLength: 30, maxLength: 80 }), (steps) => {
      const members: PresentMembers = { present: undefined, presentSince: 0 };
      const model = new Map<Connection, number>();
      steps.forEach(({ join, index }, time) => {
        const connection = connections[index]!;
        if (join) {
          expect(addPresent(members, connection, time)).toBe(!model.has(connection));
          if (!model.has(connection)) model.set(connection, time);
        } else {
          expect(removePresent(members, connection)).toBe(model.delete(connection));
        }
        expect(new Set(presentConnections(members))).toEqual(new Set(model.keys()));
        for (const [present, since] of model) expect(sinceOf(members, present)).toBe(since);
      });
    }),
  );
});
