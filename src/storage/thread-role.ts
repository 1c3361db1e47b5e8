// A user's role on a thread from the thread's owner and the user's membership row, the same for both dialects.

import type { MemberRole, ThreadRole } from "../protocol/rest-views.ts";

/** `owner` for the owner, the member's role for a member, undefined for anyone else or no thread. */
export function roleOf(row: { ownerId: string; role: MemberRole | null } | undefined, userId: string): ThreadRole | undefined {
  if (!row) return undefined;
  if (row.ownerId === userId) return "owner";
  return row.role ?? undefined;
}
