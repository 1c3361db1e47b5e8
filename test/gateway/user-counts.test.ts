// The per-user connection counts chained by slot admit exactly what a Map from user id to count would,
// whatever the order of opens, authentications and closes, with the gateway's swap-remove of slots, and
// with so few chain heads that users share chains (MAX_CONNECTIONS_PER_USER, docs/protocol.md section 8.3).

import { expect, test } from "bun:test";
import fc from "fast-check";
import { UserCounts } from "../../src/gateway/user-counts.ts";

interface Held {
  user: string;
  counted: boolean;
}

const step = fc.oneof(
  fc.record({ kind: fc.constant("open" as const), user: fc.integer({ min: 0, max: 6 }), authenticate: fc.boolean() }),
  fc.record({ kind: fc.constant("authenticate" as const), index: fc.nat() }),
  fc.record({ kind: fc.constant("close" as const), index: fc.nat() }),
);

test("admits what a map of counts admits, through opens, authentications and swap-removed closes", () => {
  fc.assert(
    fc.property(fc.array(step, { maxLength: 300 }), fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 5 }), (steps, limit, buckets) => {
      // The gateway's connections array: a close moves the last connection into the freed slot.
      const slots: Held[] = [];
      const counts = new UserCounts((slot) => slots[slot]!.user, buckets);
      const model = new Map<string, number>();
      const admit = (slot: number) => {
        const held = slots[slot]!;
        held.counted = true;
        const count = (model.get(held.user) ?? 0) + 1;
        model.set(held.user, count);
        expect(counts.add(slot, held.user, limit)).toBe(count <= limit);
      };
      for (const action of steps) {
        if (action.kind === "open") {
          slots.push({ user: `user-${action.user}`, counted: false });
          if (action.authenticate) admit(slots.length - 1);
        } else if (slots.length > 0) {
          const slot = action.index % slots.length;
          const held = slots[slot]!;
          if (action.kind === "authenticate") {
            if (!held.counted) admit(slot);
            continue;
          }
          if (held.counted) model.set(held.user, model.get(held.user)! - 1);
          counts.remove(slot);
          const last = slots.length - 1;
          if (slot !== last) {
            counts.move(last, slot);
            slots[slot] = slots[last]!;
          }
          slots.pop();
        }
      }
      // Every user's next connection is admitted exactly when the map says it may be.
      for (let user = 0; user <= 6; user++) {
        const id = `user-${user}`;
        slots.push({ user: id, counted: false });
        admit(slots.length - 1);
        counts.remove(slots.length - 1);
        model.set(id, model.get(id)! - 1);
        slots.pop();
      }
    }),
    { numRuns: 300 },
  );
});

test("slots past the first thousand are counted as well", () => {
  const users = Array.from({ length: 5000 }, (_, index) => `user-${index % 2500}`);
  const counts = new UserCounts((slot) => users[slot]!);
  users.forEach((user, slot) => expect(counts.add(slot, user, 2)).toBe(true));
  users.forEach((user, slot) => slot < 2500 && counts.remove(slot));
  users[0] = "user-7";
  users[1] = "user-2";
  expect(counts.add(0, "user-7", 1)).toBe(false);
  expect(counts.add(1, "user-2", 1)).toBe(false);
});
