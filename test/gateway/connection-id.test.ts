// Connection ids written out from serial numbers are version 4 UUIDs (docs/protocol.md section 3.2),
// distinct for distinct serials, and the same each time one is written out.

import { expect, test } from "bun:test";
import fc from "fast-check";
import { connectionId, nextConnectionSerial } from "../../src/gateway/connection-id.ts";

const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

test("distinct serials give distinct version 4 UUIDs, each written out the same every time", () => {
  fc.assert(
    fc.property(fc.uniqueArray(fc.integer({ min: 0, max: 2 ** 48 - 1 }), { minLength: 2, maxLength: 200 }), (serials) => {
      const ids = serials.map(connectionId);
      for (const id of ids) expect(id).toMatch(UUID_V4);
      expect(new Set(ids).size).toBe(serials.length);
      expect(serials.map(connectionId)).toEqual(ids);
    }),
  );
});

test("consecutive connections do not get consecutive ids", () => {
  const first = nextConnectionSerial();
  const tails = Array.from({ length: 1000 }, (_, index) => Number.parseInt(connectionId(first + index).slice(24), 16));
  expect(new Set(tails).size).toBe(1000);
  const steps = new Set(tails.slice(1).map((tail, index) => tail - tails[index]!));
  expect(steps.size).toBeGreaterThan(900);
});
