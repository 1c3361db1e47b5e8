// The coalesced presence diff (docs/protocol.md section 14.2): applied as the protocol says, it leaves a
// subscriber where the changes one by one would have, whatever their order, also one that saw some of them
// through a query answered in the middle of the interval.

import { describe, expect, test } from "bun:test";
import fc from "fast-check";
import { presenceDiff, type PresenceChange } from "../../src/protocol/index.ts";

type View = Map<string, { user: string; state?: string }>;

function applyChange(view: View, change: PresenceChange): void {
  if (change.action === "leave") view.delete(change.client);
  else if (change.action === "join") view.set(change.client, { user: change.user, state: change.state });
  else view.set(change.client, { ...view.get(change.client)!, state: change.state });
}

/** Valid changes from `start`: joins of absent clients, leaves and (agent) updates of present ones. */
function changesFrom(start: View, steps: { client: number; kind: number; state: number }[]): PresenceChange[] {
  const states = ["thinking", "tool", "responding", "awaiting_approval"] as const;
  const view: View = new Map(start);
  const changes: PresenceChange[] = [];
  for (const step of steps) {
    const client = `c${step.client}`;
    const present = view.get(client);
    let change: PresenceChange;
    if (!present) change = step.kind === 0 ? { action: "join", user: "agent", client, state: states[step.state]! } : { action: "join", user: `u${step.client}`, client };
    else if (step.kind === 2 && present.state !== undefined) change = { action: "update", user: present.user, client, state: states[step.state]! };
    else change = { action: "leave", user: present.user, client };
    applyChange(view, change);
    changes.push(change);
  }
  return changes;
}

describe("presenceDiff", () => {
  test("leaves, then joins, then updates of the diff give the same view as the changes one by one", () => {
    const step = fc.record({ client: fc.integer({ min: 0, max: 5 }), kind: fc.integer({ min: 0, max: 2 }), state: fc.integer({ min: 0, max: 3 }) });
    fc.assert(
      fc.property(fc.array(step, { maxLength: 8 }), fc.array(step, { minLength: 1, maxLength: 30 }), fc.nat(), (setup, burst, cut) => {
        const start: View = new Map();
        for (const change of changesFrom(new Map(), setup)) applyChange(start, change);
        const changes = changesFrom(start, burst);
        const oneByOne: View = new Map(start);
        for (const change of changes) applyChange(oneByOne, change);
        const diff = presenceDiff(changes);
        const applyDiff = (view: View) => {
          for (const left of diff.leaves) view.delete(left.client);
          for (const joined of diff.joins) view.set(joined.client, { user: joined.user, state: joined.state });
          for (const updated of diff.updates) view.set(updated.client, { ...view.get(updated.client)!, state: updated.state });
          return view;
        };
        expect(applyDiff(new Map(start))).toEqual(oneByOne);
        // A subscriber whose query was answered in the middle of the interval (it saw the first `cut`
        // changes) ends where everyone does: a client that joined and left is still a leave.
        const queried: View = new Map(start);
        for (const change of changes.slice(0, cut % (changes.length + 1))) applyChange(queried, change);
        expect(applyDiff(queried)).toEqual(oneByOne);
        // Each client is named once at most.
        const named = [...diff.leaves, ...diff.joins, ...diff.updates].map((who) => who.client);
        expect(new Set(named).size).toBe(named.length);
      }),
      { numRuns: 500 },
    );
  });
});
