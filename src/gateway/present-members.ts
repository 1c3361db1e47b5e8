// The node's connections present on one channel, with when each joined (docs/protocol.md section 14.1),
// kept in two fields of the gateway's own channel entry rather than in objects of their own.
//
// Why not an entry per presence: connections open in bursts, and a small object kept from each subscribe
// lands in heap blocks full of that subscribe's garbage; JSC does not compact, so each one kept about 600
// bytes of heap capacity alive. Two more fields on an entry that exists anyway cost 16 bytes.

import type { Connection } from "./connection.ts";

export interface PresentMembers {
  /** The one present connection bare, a Map to each one's join time from the second on. */
  present: Connection | Map<Connection, number> | undefined;
  /** When the bare `present` joined, seconds since the epoch. */
  presentSince: number;
}

/** Makes `connection` present from `since`; false (and its first time kept) when it already was. */
export function addPresent(members: PresentMembers, connection: Connection, since: number): boolean {
  const { present } = members;
  if (present === undefined) {
    members.present = connection;
    members.presentSince = since;
  } else if (present instanceof Map) {
    if (present.has(connection)) return false;
    present.set(connection, since);
  } else {
    if (present === connection) return false;
    members.present = new Map([[present, members.presentSince], [connection, since]]);
  }
  return true;
}

/** False when `connection` was not present. */
export function removePresent(members: PresentMembers, connection: Connection): boolean {
  const { present } = members;
  if (present === connection) {
    members.present = undefined;
    return true;
  }
  if (!(present instanceof Map) || !present.delete(connection)) return false;
  if (present.size === 1) {
    const [last, since] = present.entries().next().value!;
    members.present = last;
    members.presentSince = since;
  }
  return true;
}

/** When a present connection joined. */
export function sinceOf(members: PresentMembers, connection: Connection): number {
  const { present } = members;
  return present instanceof Map ? present.get(connection)! : members.presentSince;
}
