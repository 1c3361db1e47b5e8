// The behaviour every Presence engine shares, declared once and run against each engine: changes as
// events, idempotent joins, pages in client order with a cursor.

import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import type { Presence, PresenceEvent } from "../../src/broker/presence.ts";
import { waitFor } from "../helpers/wait.ts";

export interface OpenedPresence {
  /** Two engines sharing one view, as two nodes would (the same engine twice for a single process). */
  first: Presence;
  second: Presence;
  cleanup(): Promise<void>;
}

export function describePresenceContract(name: string, open: () => Promise<OpenedPresence>): void {
  describe(name, () => {
    let opened: OpenedPresence;
    let seen: PresenceEvent[];
    beforeEach(async () => {
      opened = await open();
      seen = [];
      opened.second.onEvent((event) => seen.push(event));
      await opened.second.watch("room");
    });
    afterEach(() => opened.cleanup());

    test("join, update and leave are announced once each, wherever they were made; a second join or leave is silent", async () => {
      const { first } = opened;
      await first.join("room", { user: "ann", client: "c1", since: 1 });
      await first.join("room", { user: "ann", client: "c1", since: 2 });
      await first.join("room", { user: "agent", client: "m1", since: 3, state: "thinking" });
      await first.update("room", "m1", "tool");
      await first.update("room", "m1", "tool");
      await first.leave("room", "c1");
      await first.leave("room", "c1");
      await first.join("elsewhere", { user: "bob", client: "c2", since: 4 });
      await waitFor(() => seen.length >= 4, "the changes");
      // Only watched channels are delivered.
      expect(seen).toEqual([
        { channel: "room", change: { action: "join", user: "ann", client: "c1" } },
        { channel: "room", change: { action: "join", user: "agent", client: "m1", state: "thinking" } },
        { channel: "room", change: { action: "update", user: "agent", client: "m1", state: "tool" } },
        { channel: "room", change: { action: "leave", user: "ann", client: "c1" } },
      ]);
      expect((await opened.second.list("room", 10, undefined)).clients).toEqual([{ user: "agent", client: "m1", since: 3, state: "tool" }]);
    });

    test("pages are bounded and ordered by client id; the cursor goes on where the last page ended", async () => {
      for (let index = 0; index < 25; index++) await opened.first.join("room", { user: `u${index}`, client: `c${String(index).padStart(2, "0")}`, since: index });
      const first = await opened.second.list("room", 10, undefined);
      expect(first.clients.map((client) => client.client)).toEqual(Array.from({ length: 10 }, (_, index) => `c0${index}`));
      expect(first.nextCursor).toBe("c09");
      const third = await opened.second.list("room", 10, "c19");
      expect(third.clients).toHaveLength(5);
      expect(third.nextCursor).toBeUndefined();
      expect((await opened.second.list("empty", 10, undefined)).clients).toEqual([]);
    });
  });
}
