// A user's role on a thread (owner, editor, viewer): read from its rows the same way for both dialects, and
// checked against what an action needs the same way by every route and transport.

import { ErrorCode } from "../protocol/codes.ts";
import { ProtocolError } from "../protocol/errors.ts";
import type { MemberRole, ThreadRole } from "../protocol/rest-views.ts";

/** `owner` for the owner, the member's role for a member, undefined for anyone else or no thread. */
export function roleOf(row: { ownerId: string; role: MemberRole | null } | undefined, userId: string): ThreadRole | undefined {
  if (!row) return undefined;
  if (row.ownerId === userId) return "owner";
  return row.role ?? undefined;
}

const rank: Record<ThreadRole, number> = { viewer: 1, editor: 2, owner: 3 };

/**
 * Checks `role` against what an action needs (docs/protocol.md section 14): `not_found` for no role at all,
 * so thread ids cannot be probed; `forbidden` for a member whose role is too low. Returns the role.
 */
export function requireRole(role: ThreadRole | undefined, needed: ThreadRole, threadId: string): ThreadRole {
  if (role === undefined) throw new ProtocolError(ErrorCode.notFound, `no thread ${threadId}`);
  if (rank[role] < rank[needed]) throw new ProtocolError(ErrorCode.forbidden, `a ${role} of thread ${threadId} may not do this; it takes ${needed === "owner" ? "the owner" : `an ${needed}`}`);
  return role;
}

/** Whether `role` may start, stop and decide runs. */
export function mayEdit(role: ThreadRole | undefined): boolean {
  return role === "owner" || role === "editor";
}
