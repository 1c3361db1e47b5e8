// Connections per user counted in buckets say what an exact count per user says, collisions and all.

import { expect, test } from "bun:test";
import fc from "fast-check";
import { UserCounts } from "../../src/gateway/user-counts.ts";

test("admit and release answer as an exact count per user does, whatever falls in one bucket", () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: 8 }),
      // Three admits to a release: buckets go over the limit, and some empty again.
      fc.array(fc.record({ release: fc.integer({ min: 0, max: 3 }).map((n) => n === 0), user: fc.integer({ min: 0, max: 4 }) }), { minLength: 100, maxLength: 300 }),
      (limit, steps) => {
        // Users of the connections held, one entry per connection: what the gateway's walk would list.
        const held: string[] = [];
        // Two buckets for five users, and buckets even for the smallest limits: collisions everywhere.
        const counts = new UserCounts(limit, () => held, { buckets: 2, sketchFromLimit: 1 });
        const exact = new Map<string, number>();
        for (const step of steps) {
          const user = `u${step.user}`;
          if (step.release) {
            const index = held.indexOf(user);
            if (index < 0) continue;
            held.splice(index, 1);
            exact.set(user, exact.get(user)! - 1);
            counts.release(user);
          } else {
            held.push(user);
            const count = (exact.get(user) ?? 0) + 1;
            exact.set(user, count);
            expect(counts.admit(user)).toBe(count <= limit);
          }
        }
      },
    ),
  );
});
