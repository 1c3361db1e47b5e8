// Shared threads over REST (docs/protocol.md section 14): the owner adds, changes and removes members;
// a removal, or an editor lowered to viewer, ends that user's subscriptions to the thread on every node.

import { Elysia, t } from "elysia";
import type { UserNotices } from "../agent/user-notices.ts";
import type { TokenService } from "../auth/tokens.ts";
import type { ControlBus } from "../broker/control-bus.ts";
import { ErrorCode, MAX_THREAD_MEMBERS, ProtocolError, WITHOUT_NUL, type MemberView } from "../protocol/index.ts";
import type { Member, Storage } from "../storage/storage.ts";
import { requireRole } from "../storage/thread-role.ts";
import { requirePrincipal } from "./auth.ts";
import { bodyMatching, jsonRequestBody, readJsonBody } from "./json-body.ts";

export interface MemberRouteDeps {
  config: { maxBodyBytes: number };
  tokens: TokenService;
  storage: Storage;
  controlBus: ControlBus;
  notices: UserNotices;
}

const ThreadParams = t.Object({ id: t.String({ minLength: 1, maxLength: 128, pattern: WITHOUT_NUL }) });
// A user id as a token's `sub` spells it (docs/protocol.md section 3.1).
const MemberParams = t.Object({ id: ThreadParams.properties.id, user: t.String({ pattern: "^[A-Za-z0-9_.@-]{1,64}$" }) });
const PutMemberBody = t.Object({ role: t.Union([t.Literal("viewer"), t.Literal("editor")]) });
const bearer = { security: [{ bearerAuth: [] }] };

export function memberView(member: Member): MemberView {
  return { user: member.userId, role: member.role, added_at: member.addedAt.toISOString() };
}

export function memberRoutes({ config, tokens, storage, controlBus, notices }: MemberRouteDeps) {
  /** The caller, when it owns the thread; 404 for everyone else, members included, as for no thread. */
  const owner = async (authorization: string | null, threadId: string) => {
    const principal = await requirePrincipal(tokens, authorization);
    const role = await storage.threadRole(threadId, principal.sub);
    if (role !== "owner") requireRole(undefined, "owner", threadId);
    return principal;
  };
  /** Every node ends the user's subscriptions to the thread before the answer goes out. */
  const revoke = (threadId: string, userId: string) => controlBus.broadcast({ action: "revoke", threadId, userId });

  return new Elysia({ name: "member-routes" })
    .get(
      "/threads/:id/members",
      async ({ request, params }) => {
        await owner(request.headers.get("authorization"), params.id);
        return { members: (await storage.listMembers(params.id)).map(memberView) };
      },
      { params: ThreadParams, detail: { summary: "The users the thread is shared with (the owner only)", ...bearer } },
    )
    .put(
      "/threads/:id/members/:user",
      async ({ request, params }) => {
        const principal = await owner(request.headers.get("authorization"), params.id);
        const { role } = bodyMatching(PutMemberBody, await readJsonBody(request, { maxBytes: config.maxBodyBytes }));
        if (params.user === principal.sub) throw new ProtocolError(ErrorCode.invalidMessage, "the owner cannot be a member of its own thread", ["/user"]);
        const before = await storage.threadRole(params.id, params.user);
        // Bounds what every change of the thread fans out to (its notices, section 6.5).
        if (before === undefined && (await storage.listMembers(params.id)).length >= MAX_THREAD_MEMBERS) {
          throw new ProtocolError(ErrorCode.conflict, `a thread is shared with at most ${MAX_THREAD_MEMBERS} users`);
        }
        const member = await storage.putMember(params.id, params.user, role);
        if (before === "editor" && role === "viewer") await revoke(params.id, params.user);
        notices.send(params.user, { type: "thread_shared", thread_id: params.id });
        return memberView(member);
      },
      {
        params: MemberParams,
        parse: "none",
        detail: { summary: "Share the thread with a user as viewer or editor, or change its role (the owner only)", requestBody: jsonRequestBody(PutMemberBody), ...bearer },
      },
    )
    .delete(
      "/threads/:id/members/:user",
      async ({ request, params, set }) => {
        await owner(request.headers.get("authorization"), params.id);
        if (!(await storage.deleteMember(params.id, params.user))) throw new ProtocolError(ErrorCode.notFound, `${params.user} is not a member of thread ${params.id}`);
        await revoke(params.id, params.user);
        notices.send(params.user, { type: "thread_unshared", thread_id: params.id });
        set.status = 204;
        return "";
      },
      { params: MemberParams, detail: { summary: "Stop sharing the thread with a user; its subscriptions end on every node (the owner only)", ...bearer } },
    );
}
