// The compact set behaves as a Set whatever the sequence of adds and deletes, and stays as small as
// its size allows: bare for one member, an array for a few.

import { expect, test } from "bun:test";
import fc from "fast-check";
import {
  compactAdd,
  compactDelete,
  compactFind,
  compactFirst,
  compactForEach,
  compactHas,
  compactSize,
  compactValues,
  type CompactSet,
} from "../../src/gateway/compact-set.ts";

const operation = fc.record({ add: fc.boolean(), member: fc.integer({ min: 0, max: 20 }).map((n) => `m${n}`) });

test("any sequence of adds and deletes matches a Set", () => {
  fc.assert(
    fc.property(fc.array(operation, { maxLength: 200 }), (operations) => {
      let set: CompactSet<string> = undefined;
      const model = new Set<string>();
      for (const { add, member } of operations) {
        if (add) {
          set = compactAdd(set, member);
          model.add(member);
        } else {
          set = compactDelete(set, member);
          model.delete(member);
        }
        expect(compactSize(set)).toBe(model.size);
        expect(compactValues(set).sort()).toEqual([...model].sort());
        for (const candidate of ["m0", "m5", member]) expect(compactHas(set, candidate)).toBe(model.has(candidate));
        const visited: string[] = [];
        compactForEach(set, (value) => visited.push(value));
        expect(visited.sort()).toEqual([...model].sort());
        expect(compactFind(set, (value) => value === member)).toBe(model.has(member) ? member : undefined);
        expect(model.size === 0 ? compactFirst(set) === undefined : model.has(compactFirst(set)!)).toBe(true);
        // Never a collection of one or none: those are stored bare.
        if (model.size === 0) expect(set).toBeUndefined();
        if (model.size === 1) expect(typeof set).toBe("string");
      }
    }),
    { numRuns: 300 },
  );
});

test("a few members stay in an array, many go to a Set, and back to bare as they leave", () => {
  let set: CompactSet<object> = undefined;
  const members = Array.from({ length: 12 }, () => ({}));
  for (const member of members.slice(0, 8)) set = compactAdd(set, member);
  expect(Array.isArray(set)).toBe(true);
  for (const member of members.slice(8)) set = compactAdd(set, member);
  expect(set).toBeInstanceOf(Set);
  for (const member of members.slice(1)) set = compactDelete(set, member);
  expect(set).toBe(members[0]);
});

test("compactForEach visits every member once even when the visit deletes members", () => {
  fc.assert(
    fc.property(fc.integer({ min: 1, max: 20 }), fc.array(fc.boolean(), { minLength: 20, maxLength: 20 }), (size, deletes) => {
      const members = Array.from({ length: size }, (_, index) => ({ index }));
      let set: CompactSet<{ index: number }> = undefined;
      for (const member of members) set = compactAdd(set, member);
      const holder = { set };
      const visited: number[] = [];
      compactForEach(holder.set, (member) => {
        visited.push(member.index);
        // The visited member leaves, as a connection closing during delivery does.
        if (deletes[member.index]) holder.set = compactDelete(holder.set, member);
      });
      expect(visited.sort((a, b) => a - b)).toEqual(members.map((member) => member.index));
    }),
  );
});
