// The node's connections present on one channel, with when each joined (docs/protocol.md section 14.1),
// kept in two fields of the gateway's own channel entry rather than in objects of their own.
//
// Why not an entry per presence: connections open in bursts, and a small object kept from each subscribe
// lands in heap blocks full of that subscribe's garbage; JSC does not compact, so each one kept about 600
// bytes of heap capacity alive. Two more fields on an entry that exists anyway cost 16 bytes. A few
// members go in a flat array (about 20-35 bytes each), since a small Map costs 130-180 bytes per member.

import type { Connection } from "./connection.ts";

// Past this many members a Map: an array's linear search would cost more than the Map's memory saves.
const ARRAY_LIMIT = 8;

/** Connection, join time, connection, join time...: numbers never equal a connection, so indexOf finds one. */
type Pairs = (Connection | number)[];

export interface PresentMembers {
  /** The one present connection bare; from two, pairs of connection and join time; past a few, a Map. */
  present: Connection | Pairs | Map<Connection, number> | undefined;
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
  } else if (Array.isArray(present)) {
    if (present.includes(connection)) return false;
    if (present.length < 2 * ARRAY_LIMIT) present.push(connection, since);
    else members.present = new Map<Connection, number>(pairsOf(present)).set(connection, since);
  } else {
    if (present === connection) return false;
    members.present = [present, members.presentSince, connection, since];
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
  if (present instanceof Map) {
    if (!present.delete(connection)) return false;
    if (present.size === 1) [members.present, members.presentSince] = present.entries().next().value!;
    return true;
  }
  if (!Array.isArray(present)) return false;
  const index = present.indexOf(connection);
  if (index < 0) return false;
  // The last pair takes the freed place; order does not matter.
  present[index] = present[present.length - 2]!;
  present[index + 1] = present[present.length - 1]!;
  present.length -= 2;
  if (present.length === 2) {
    members.present = present[0] as Connection;
    members.presentSince = present[1] as number;
  }
  return true;
}

/** When a present connection joined. */
export function sinceOf(members: PresentMembers, connection: Connection): number {
  const { present } = members;
  if (present instanceof Map) return present.get(connection)!;
  if (Array.isArray(present)) return present[present.indexOf(connection) + 1] as number;
  return members.presentSince;
}

/** The present connections, as a new array. */
export function presentConnections(members: PresentMembers): Connection[] {
  const { present } = members;
  if (present === undefined) return [];
  if (present instanceof Map) return [...present.keys()];
  if (Array.isArray(present)) return present.filter((_, index) => index % 2 === 0) as Connection[];
  return [present];
}

function* pairsOf(pairs: Pairs): Generator<[Connection, number]> {
  for (let index = 0; index < pairs.length; index += 2) yield [pairs[index] as Connection, pairs[index + 1] as number];
}
