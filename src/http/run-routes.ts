// Run control over REST (docs/protocol.md section 10.6): stop, approve and reject a thread's run, as
// the socket's chat actions do, for clients that watch over SSE. The owner and editors (docs/protocol.md
// section 14); a viewer gets 403, anyone else 404.

import { Elysia, t } from "elysia";
import type { AgentService } from "../agent/agent-service.ts";
import type { TokenService } from "../auth/tokens.ts";
import type { Config } from "../config.ts";
import { ErrorCode, ProtocolError, WITHOUT_NUL } from "../protocol/index.ts";
import type { Storage } from "../storage/storage.ts";
import { requireRole } from "../storage/thread-role.ts";
import { requirePrincipal } from "./auth.ts";
import { bodyMatching, jsonRequestBody, readJsonBody } from "./json-body.ts";

export interface RunRouteDeps {
  config: Pick<Config, "maxBodyBytes">;
  tokens: TokenService;
  storage: Storage;
  agent: AgentService;
}

const Id = t.String({ minLength: 1, maxLength: 128, pattern: WITHOUT_NUL });
const ThreadParams = t.Object({ id: Id });
const StopBody = t.Object({ message_id: t.Optional(Id) });
const ApproveBody = t.Object({ message_id: Id, call_id: t.String({ minLength: 1, maxLength: 256, pattern: WITHOUT_NUL }) });
const RejectBody = t.Object({
  message_id: Id,
  call_id: t.String({ minLength: 1, maxLength: 256, pattern: WITHOUT_NUL }),
  reason: t.Optional(t.String({ maxLength: 2000, pattern: WITHOUT_NUL })),
});
const bearer = { security: [{ bearerAuth: [] }] };

export function runRoutes({ config, tokens, storage, agent }: RunRouteDeps) {
  const maxBytes = config.maxBodyBytes;

  /** 404 unless the run's message is on that thread and the caller may see it; 403 unless it may control it. */
  const requireOwnRun = async (userId: string, threadId: string, messageId: string) => {
    const message = await storage.getMessage(messageId);
    const role = await storage.threadRole(threadId, userId);
    if (!message || message.threadId !== threadId || role === undefined) {
      throw new ProtocolError(ErrorCode.notFound, `no run ${messageId} on thread ${threadId}`);
    }
    requireRole(role, "editor", threadId);
  };

  return new Elysia({ name: "run-routes" })
    .post(
      "/threads/:id/stop",
      async ({ request, params, set }) => {
        const principal = await requirePrincipal(tokens, request.headers.get("authorization"));
        const body = await readJsonBody(request, { maxBytes, optional: true });
        const { message_id: messageId } = body === undefined ? {} : bodyMatching(StopBody, body);
        const stopped = await agent.control.stopThreadRun(principal.sub, params.id, messageId);
        set.status = 202;
        return { status: "stopping" as const, message_id: stopped };
      },
      {
        params: ThreadParams,
        parse: "none",
        detail: { summary: "Stop the thread's active run (the one named, when message_id is given); 404 when none is active", requestBody: jsonRequestBody(StopBody, false), ...bearer },
      },
    )
    .post(
      "/threads/:id/approve",
      async ({ request, params }) => {
        // The caller first: no body is read for an unknown one (docs/protocol.md section 7.2).
        const principal = await requirePrincipal(tokens, request.headers.get("authorization"));
        const body = bodyMatching(ApproveBody, await readJsonBody(request, { maxBytes }));
        await requireOwnRun(principal.sub, params.id, body.message_id);
        await agent.control.decide(principal.sub, body.message_id, body.call_id, { approved: true });
        return { status: "approved" as const, message_id: body.message_id, call_id: body.call_id };
      },
      { params: ThreadParams, parse: "none", detail: { summary: "Approve a tool call waiting for approval", requestBody: jsonRequestBody(ApproveBody), ...bearer } },
    )
    .post(
      "/threads/:id/reject",
      async ({ request, params }) => {
        const principal = await requirePrincipal(tokens, request.headers.get("authorization"));
        const body = bodyMatching(RejectBody, await readJsonBody(request, { maxBytes }));
        await requireOwnRun(principal.sub, params.id, body.message_id);
        await agent.control.decide(principal.sub, body.message_id, body.call_id, { approved: false, reason: body.reason || "rejected by the user" });
        return { status: "rejected" as const, message_id: body.message_id, call_id: body.call_id };
      },
      { params: ThreadParams, parse: "none", detail: { summary: "Reject a tool call waiting for approval, with an optional reason", requestBody: jsonRequestBody(RejectBody), ...bearer } },
    );
}
