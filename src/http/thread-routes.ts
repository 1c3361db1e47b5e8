// REST beside the socket (PROTOCOL.md section 7): threads and their messages, owner only.

import { Elysia, t } from "elysia";
import type { AgentService } from "../agent/agent-service.ts";
import type { TokenService } from "../auth/tokens.ts";
import type { Broker } from "../broker/broker.ts";
import { ErrorCode, ProtocolError, threadChannel } from "../protocol/index.ts";
import type { Message, Storage, Thread } from "../storage/storage.ts";
import { requirePrincipal } from "./auth.ts";

export interface ThreadRouteDeps {
  tokens: TokenService;
  storage: Storage;
  broker: Broker;
  agent: AgentService;
}

export function threadView(thread: Thread) {
  return { id: thread.id, title: thread.title, created_at: thread.createdAt.toISOString(), updated_at: thread.updatedAt.toISOString() };
}

export function messageView(message: Message) {
  const view: Record<string, unknown> = {
    id: message.id,
    role: message.role,
    content: message.content,
    status: message.status,
    created_at: message.createdAt.toISOString(),
  };
  if (message.reasoning) view.reasoning = message.reasoning;
  if (message.toolCalls) view.tool_calls = message.toolCalls;
  if (message.sources) view.sources = message.sources;
  if (message.usage) view.usage = message.usage;
  if (message.error) view.error = message.error;
  return view;
}

const notFound = (threadId: string) => new ProtocolError(ErrorCode.notFound, `no thread ${threadId}`);
const ThreadParams = t.Object({ id: t.String({ minLength: 1, maxLength: 128 }) });
const bearer = { security: [{ bearerAuth: [] }] };

export function threadRoutes({ tokens, storage, broker, agent }: ThreadRouteDeps) {
  /** The caller's principal and the thread, or 404 when it does not exist or is not theirs. */
  const ownThread = async (authorization: string | null, threadId: string) => {
    const principal = await requirePrincipal(tokens, authorization);
    const thread = await storage.getThread(threadId);
    if (!thread || thread.ownerId !== principal.sub) throw notFound(threadId);
    return { principal, thread };
  };

  return new Elysia({ name: "thread-routes" })
    .get(
      "/threads",
      async ({ request }) => {
        const principal = await requirePrincipal(tokens, request.headers.get("authorization"));
        return { threads: (await storage.listThreads(principal.sub)).map(threadView) };
      },
      { detail: { summary: "The caller's threads, newest first", ...bearer } },
    )
    .post(
      "/threads",
      async ({ request, body, set }) => {
        const principal = await requirePrincipal(tokens, request.headers.get("authorization"));
        const thread = await storage.createThread({ ownerId: principal.sub, title: body?.title ?? "" });
        set.status = 201;
        return threadView(thread);
      },
      { body: t.Optional(t.Object({ title: t.Optional(t.String({ maxLength: 200 })) })), detail: { summary: "Create a thread", ...bearer } },
    )
    .get(
      "/threads/:id/messages",
      async ({ request, params }) => {
        const principal = await requirePrincipal(tokens, request.headers.get("authorization"));
        const snapshot = await storage.threadSnapshot(params.id);
        if (!snapshot || snapshot.thread.ownerId !== principal.sub) throw notFound(params.id);
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
      async ({ request, params, body, set }) => {
        const { principal } = await ownThread(request.headers.get("authorization"), params.id);
        const accepted = await agent.startRun({ userId: principal.sub, threadId: params.id, content: body.content, useReasoning: body.use_reasoning });
        set.status = 202;
        return accepted;
      },
      {
        params: ThreadParams,
        body: t.Object({ content: t.String({ minLength: 1, maxLength: 100_000 }), use_reasoning: t.Optional(t.Boolean()) }),
        detail: { summary: "Send a message and start a run, like the socket's chat send", ...bearer },
      },
    )
    .delete(
      "/threads/:id",
      async ({ request, params, set }) => {
        await ownThread(request.headers.get("authorization"), params.id);
        await agent.stopThread(params.id);
        await storage.deleteThread(params.id);
        set.status = 204;
        return "";
      },
      { params: ThreadParams, detail: { summary: "Stop the thread's run, then delete it with its messages", ...bearer } },
    );
}
