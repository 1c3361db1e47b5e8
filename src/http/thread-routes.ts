// REST beside the socket (docs/protocol.md section 7): threads and their messages, for their owner and the
// members it shared them with (section 14).

import { Elysia, t } from "elysia";
import type { AgentService } from "../agent/agent-service.ts";
import type { TokenService } from "../auth/tokens.ts";
import type { Broker } from "../broker/broker.ts";
import type { Config } from "../config.ts";
import { ErrorCode, ProtocolError, WITHOUT_NUL, threadChannel } from "../protocol/index.ts";
import type { MessageError, MessageView, SourceView, StoredToolCall, ThreadView, UsageView } from "../protocol/index.ts";
import type { Message, Storage, Thread, ThreadRole } from "../storage/storage.ts";
import { requireRole } from "../storage/thread-role.ts";
import { requirePrincipal } from "./auth.ts";
import { bodyMatching, jsonRequestBody, readJsonBody } from "./json-body.ts";

export interface ThreadRouteDeps {
  config: Pick<Config, "maxBodyBytes">;
  tokens: TokenService;
  storage: Storage;
  broker: Broker;
  agent: AgentService;
}

export function threadView(thread: Thread & { role?: ThreadRole }): ThreadView {
  const view: ThreadView = { id: thread.id, title: thread.title, created_at: thread.createdAt.toISOString(), updated_at: thread.updatedAt.toISOString() };
  if (thread.role !== undefined) view.role = thread.role;
  return view;
}

export function messageView(message: Message): MessageView {
  const view: MessageView = {
    id: message.id,
    role: message.role,
    content: message.content,
    status: message.status,
    created_at: message.createdAt.toISOString(),
  };
  // The JSON columns hold what the run's state stored, in these shapes.
  if (message.reasoning) view.reasoning = message.reasoning;
  if (message.toolCalls) view.tool_calls = message.toolCalls as StoredToolCall[];
  if (message.sources) view.sources = message.sources as SourceView[];
  if (message.usage) view.usage = message.usage as UsageView;
  if (message.error) view.error = message.error as MessageError;
  return view;
}

const notFound = (threadId: string) => new ProtocolError(ErrorCode.notFound, `no thread ${threadId}`);
// No NUL anywhere: PostgreSQL cannot store it, and both dialects refuse it alike (docs/protocol.md section 8.2).
const ThreadParams = t.Object({ id: t.String({ minLength: 1, maxLength: 128, pattern: WITHOUT_NUL }) });
const bearer = { security: [{ bearerAuth: [] }] };
const CreateThreadBody = t.Object({ title: t.Optional(t.String({ maxLength: 200, pattern: WITHOUT_NUL })) });
const RenameThreadBody = t.Object({ title: t.String({ maxLength: 200, pattern: WITHOUT_NUL }) });
const RegenerateBody = t.Object({ use_reasoning: t.Optional(t.Boolean()) });
const SendMessageBody = t.Object({
  content: t.String({ minLength: 1, maxLength: 100_000, pattern: WITHOUT_NUL }),
  use_reasoning: t.Optional(t.Boolean()),
});

export function threadRoutes({ config, tokens, storage, broker, agent }: ThreadRouteDeps) {
  // Bodies are read by readJsonBody once the caller is known (routes say `parse: "none"`), never by Elysia before.
  const maxBytes = config.maxBodyBytes;
  /** The caller's principal when its role on the thread is at least `needed`: 404 for no role or no thread, 403 for too low a one. */
  const withRole = async (authorization: string | null, threadId: string, needed: ThreadRole) => {
    const principal = await requirePrincipal(tokens, authorization);
    requireRole(await storage.threadRole(threadId, principal.sub), needed, threadId);
    return principal;
  };

  return new Elysia({ name: "thread-routes" })
    .get(
      "/threads",
      async ({ request }) => {
        const principal = await requirePrincipal(tokens, request.headers.get("authorization"));
        return { threads: (await storage.listAccessibleThreads(principal.sub)).map(threadView) };
      },
      { detail: { summary: "The caller's threads and those shared with it, each with the caller's role, newest first", ...bearer } },
    )
    .post(
      "/threads",
      async ({ request, set }) => {
        const principal = await requirePrincipal(tokens, request.headers.get("authorization"));
        const body = await readJsonBody(request, { maxBytes, optional: true });
        const title = body === undefined ? "" : (bodyMatching(CreateThreadBody, body).title ?? "");
        const thread = await storage.createThread({ ownerId: principal.sub, title });
        agent.notices.send(principal.sub, { type: "thread_created", thread_id: thread.id });
        set.status = 201;
        return threadView(thread);
      },
      { parse: "none", detail: { summary: "Create a thread", requestBody: jsonRequestBody(CreateThreadBody, false), ...bearer } },
    )
    .get(
      "/threads/:id/messages",
      async ({ request, params }) => {
        await withRole(request.headers.get("authorization"), params.id, "viewer");
        const snapshot = await storage.threadSnapshot(params.id);
        if (!snapshot) throw notFound(params.id);
        const { thread, messages } = snapshot;
        const state = await broker.state(threadChannel(thread.id));
        // The stored messages reflect events up to eventSeq of eventEpoch; of any other epoch, none yet.
        const seq = thread.eventEpoch === state.epoch ? (thread.eventSeq ?? 0) : 0;
        return { messages: messages.map(messageView), seq, epoch: state.epoch };
      },
      { params: ThreadParams, detail: { summary: "A thread's messages with the seq/epoch to resume its channel from", ...bearer } },
    )
    .post(
      "/threads/:id/messages",
      async ({ request, params, set }) => {
        const principal = await withRole(request.headers.get("authorization"), params.id, "editor");
        const body = bodyMatching(SendMessageBody, await readJsonBody(request, { maxBytes }));
        const accepted = await agent.startRun({ caller: { userId: principal.sub }, threadId: params.id, content: body.content, useReasoning: body.use_reasoning });
        set.status = 202;
        return accepted;
      },
      {
        params: ThreadParams,
        parse: "none",
        detail: { summary: "Send a message and start a run, like the socket's chat send", requestBody: jsonRequestBody(SendMessageBody), ...bearer },
      },
    )
    .post(
      "/threads/:id/regenerate",
      async ({ request, params, set }) => {
        // An editor may answer again as it may send (docs/protocol.md section 14).
        const principal = await withRole(request.headers.get("authorization"), params.id, "editor");
        const raw = await readJsonBody(request, { maxBytes, optional: true });
        const useReasoning = raw === undefined ? undefined : bodyMatching(RegenerateBody, raw).use_reasoning;
        const accepted = await agent.startRun({ caller: { userId: principal.sub }, threadId: params.id, content: "", useReasoning, regenerate: true });
        set.status = 202;
        return accepted;
      },
      {
        params: ThreadParams,
        parse: "none",
        detail: {
          summary: "Answer the last user message again: a new run whose answer replaces the last one (retries a stopped or failed answer too)",
          requestBody: jsonRequestBody(RegenerateBody, false),
          ...bearer,
        },
      },
    )
    .patch(
      "/threads/:id",
      async ({ request, params }) => {
        // Naming the thread is the owner's, as sharing and deleting it are.
        const principal = await withRole(request.headers.get("authorization"), params.id, "owner");
        const { title } = bodyMatching(RenameThreadBody, await readJsonBody(request, { maxBytes }));
        await storage.updateThread(params.id, { title });
        const thread = await storage.getThread(params.id);
        if (!thread) throw notFound(params.id);
        agent.notices.sendToThread(principal.sub, { type: "thread_renamed", thread_id: thread.id });
        return threadView(thread);
      },
      { params: ThreadParams, parse: "none", detail: { summary: "Rename a thread", requestBody: jsonRequestBody(RenameThreadBody), ...bearer } },
    )
    .delete(
      "/threads/:id",
      async ({ request, params, set }) => {
        const principal = await withRole(request.headers.get("authorization"), params.id, "owner");
        // Read before the delete, which takes the members with the thread.
        const members = await storage.listMembers(params.id);
        await agent.control.stopThread(params.id);
        await storage.deleteThread(params.id);
        agent.notices.sendToThread(principal.sub, { type: "thread_deleted", thread_id: params.id }, members.map((member) => member.userId));
        set.status = 204;
        return "";
      },
      { params: ThreadParams, detail: { summary: "Stop the thread's run, then delete it with its messages", ...bearer } },
    );
}
