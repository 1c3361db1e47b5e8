// The Vercel AI SDK's HTTP chat transport (docs/protocol.md section 11): `DefaultChatTransport` posts a
// chat and reconnects to it; the answer is the thread's run as a UI message stream. A thin adapter over
// the agent's startRun and the gateway's subscribe, with their permissions, limits and recovery.

import { Elysia, t } from "elysia";
import type { AgentService } from "../../agent/agent-service.ts";
import type { ApprovalDecision } from "../../agent/run.ts";
import type { Principal } from "../../auth/principal.ts";
import type { TokenService } from "../../auth/tokens.ts";
import type { Broker } from "../../broker/broker.ts";
import type { Config } from "../../config.ts";
import type { Gateway } from "../../gateway/gateway.ts";
import { requireRole } from "../../storage/thread-role.ts";
import { requirePrincipal } from "../../http/auth.ts";
import { bodyMatching, jsonRequestBody, readJsonBody } from "../../http/json-body.ts";
import {
  AiSdkChatId,
  AiSdkChatRequest,
  ErrorCode,
  ProtocolError,
  UI_MESSAGE_STREAM_HEADER,
  UI_MESSAGE_STREAM_VERSION,
  threadChannel,
} from "../../protocol/index.ts";
import type { Message, Storage } from "../../storage/storage.ts";
import { admitStream, EVENT_STREAM_HEADERS, streamResponse } from "../sse/open-stream.ts";
import { SseWriteBatch } from "../sse/sse-connection.ts";
import { storedRunEvents } from "./run-chunks.ts";
import { UiStreamConnection } from "./ui-stream-connection.ts";

export interface AiSdkRouteDeps {
  config: Pick<Config, "maxBodyBytes">;
  gateway: Gateway;
  streams: UiStreams;
  tokens: TokenService;
  storage: Storage;
  broker: Broker;
  agent: AgentService;
}

const STREAM_HEADERS = { ...EVENT_STREAM_HEADERS, [UI_MESSAGE_STREAM_HEADER]: UI_MESSAGE_STREAM_VERSION };
const bearer = { security: [{ bearerAuth: [] }] };
const MAX_CONTENT_LENGTH = 100_000;

/** A run's message that is still going on: streaming, or waiting for an approval. */
export const unfinished = (message: Message) => message.role === "assistant" && (message.status === "streaming" || message.status === "awaiting_approval");

/** The tool calls the reader's last message already shows: a request that answers approvals continues that message. */
export function shownCalls(messages: AiSdkChatRequest["messages"]): string[] {
  const last = messages[messages.length - 1];
  if (last?.role !== "assistant") return [];
  return last.parts.flatMap((part) => (part.toolCallId ? [part.toolCallId] : []));
}

/**
 * Where a UI message stream began: its run's message, the thread channel position its events follow,
 * and the calls its reader already had. The same origin gives the same chunks on any node, for as long
 * as history holds the events (the WebSocket transport's lastSequence, section 11.5).
 */
export interface StreamOrigin {
  messageId: string;
  epoch: string;
  seq: number;
  shown: string[];
}

/** Opening UI message streams, for the HTTP routes and for the WebSocket transport. */
export class UiStreams {
  private readonly batch = new SseWriteBatch();

  constructor(private readonly gateway: Gateway) {}

  /** A registered stream of the caller's, within their connection limit. */
  open(principal: Principal): UiStreamConnection {
    return admitStream(this.gateway, new UiStreamConnection(principal, this.gateway, this.batch));
  }

  /** The gateway's revocation mark, taken before a thread access check (SubscribeRequest.accessCheckedAt). */
  revocationMark(): number {
    return this.gateway.revocationMark();
  }

  respond(connection: UiStreamConnection, start: () => Promise<void>): Promise<Response> {
    return streamResponse(connection, STREAM_HEADERS, start);
  }

  /**
   * The stream that began at `origin`, written again from the thread channel's history, then live.
   * The caller checks the reader may see the thread (after taking `accessCheckedAt`, the gateway's
   * revocation mark). When history no longer holds the events, the stream is one error chunk: its first
   * chunk is then not the run's `start`.
   */
  again(principal: Principal, threadId: string, origin: StreamOrigin, accessCheckedAt: number): Promise<Response> {
    const connection = this.open(principal);
    return this.respond(connection, async () => {
      connection.follow(origin.messageId, { shown: origin.shown });
      await this.gateway.subscribe(connection, threadChannel(threadId), { since: origin.seq, epoch: origin.epoch, accessCheckedAt });
    });
  }
}

/** An answer to an approval request, as `addToolApprovalResponse` leaves it in the assistant message's tool part. */
interface ApprovalAnswer {
  callId: string;
  decision: ApprovalDecision;
}

/** The approval answers of the last message when it is the assistant's: the request that sends them (section 11.4). */
function approvalAnswersOf(request: AiSdkChatRequest): ApprovalAnswer[] | undefined {
  const last = request.messages[request.messages.length - 1]!;
  if (last.role !== "assistant") return undefined;
  const answers = last.parts.flatMap(({ state, approval }): ApprovalAnswer[] => {
    if (state !== "approval-responded" || approval?.approved === undefined) return [];
    const decision = approval.approved ? { approved: true } : { approved: false, reason: approval.reason || "rejected by the user" };
    return [{ callId: approval.id, decision }];
  });
  const at = `/messages/${request.messages.length - 1}`;
  if (answers.length === 0) throw new ProtocolError(ErrorCode.invalidMessage, "the last message must be the user's, or the assistant's with approval responses", [`${at}/role`]);
  return answers;
}

/** The new user message: the text parts of the last message, which must be the user's. */
function contentOf(request: AiSdkChatRequest): string {
  const last = request.messages[request.messages.length - 1]!;
  const at = `/messages/${request.messages.length - 1}`;
  const content = last.parts.flatMap((part) => (part.type === "text" && part.text ? [part.text] : [])).join("\n");
  if (content.length === 0) throw new ProtocolError(ErrorCode.invalidMessage, "the last message has no text", [`${at}/parts`]);
  if (content.length > MAX_CONTENT_LENGTH) throw new ProtocolError(ErrorCode.invalidMessage, `the last message is longer than ${MAX_CONTENT_LENGTH} characters`, [`${at}/parts`]);
  return content;
}

export function aiSdkRoutes({ config, gateway, streams, tokens, storage, broker, agent }: AiSdkRouteDeps) {
  const maxBytes = config.maxBodyBytes;

  /**
   * Hands the approval answers to the waiting run, and streams the rest of the run from here on,
   * continuing the reader's assistant message: the tool parts it has are not announced again.
   */
  const answerApprovals = async (principal: Principal, chat: AiSdkChatRequest, answers: ApprovalAnswer[]): Promise<Response> => {
    const last = chat.messages[chat.messages.length - 1]!;
    const accessCheckedAt = gateway.revocationMark();
    const message = await storage.getMessage(last.id);
    // Not the caller's, or not this thread's: as unknown, so ids cannot be probed.
    if (!message || message.threadId !== chat.id) throw new ProtocolError(ErrorCode.notFound, `no message ${last.id} on thread ${chat.id}`);
    requireRole(await storage.threadRole(chat.id, principal.sub), "editor", chat.id);
    const shown = shownCalls(chat.messages);
    const connection = streams.open(principal);
    return streams.respond(connection, async () => {
      // Following the thread before the decision: the stream has every event the decision causes.
      await gateway.subscribe(connection, threadChannel(chat.id), { accessCheckedAt });
      connection.follow(message.id, { shown });
      for (const { callId, decision } of answers) await agent.control.decide(principal.sub, message.id, callId, decision);
    });
  };

  return new Elysia({ name: "ai-sdk-routes" })
    .post(
      "/ai-sdk/chat",
      async ({ request }) => {
        // The caller first: no body is read for an unknown one (docs/protocol.md section 7.2).
        const principal = await requirePrincipal(tokens, request.headers.get("authorization"));
        const body = await readJsonBody(request, { maxBytes });
        const chat = bodyMatching(AiSdkChatRequest, body, "request does not match the AI SDK chat request");
        const answers = approvalAnswersOf(chat);
        if (answers) return answerApprovals(principal, chat, answers);
        // Regenerating answers the stored last user message again (section 11): the request's text is not stored.
        const regenerate = chat.trigger === "regenerate-message";
        const content = regenerate ? "" : contentOf(chat);
        const accessCheckedAt = gateway.revocationMark();
        const thread = await storage.getThread(chat.id);
        if (thread) requireRole(await storage.threadRole(thread.id, principal.sub), "editor", chat.id);
        const connection = streams.open(principal);
        return streams.respond(connection, async () => {
          // Following the thread before the run starts: the stream has its every event from the first.
          // A thread this request creates has no access to check again.
          await gateway.subscribe(connection, threadChannel(chat.id), thread ? { accessCheckedAt } : {});
          const accepted = await agent.startRun({
            caller: { userId: principal.sub },
            threadId: chat.id,
            content,
            useReasoning: chat.use_reasoning,
            createThread: !regenerate,
            regenerate,
          });
          connection.follow(accepted.message_id);
        });
      },
      {
        parse: "none",
        detail: {
          summary: "Send a chat message as the AI SDK's DefaultChatTransport does; the run as a UI message stream",
          requestBody: jsonRequestBody(AiSdkChatRequest),
          ...bearer,
        },
      },
    )
    .get(
      "/ai-sdk/chat/:id/stream",
      async ({ request, params }) => {
        const principal = await requirePrincipal(tokens, request.headers.get("authorization"));
        const accessCheckedAt = gateway.revocationMark();
        const snapshot = await storage.threadSnapshot(params.id);
        // No run to resume: also for a thread the caller cannot see, which the AI SDK asks about for
        // every new chat, and which must answer as an idle one so that thread ids cannot be probed.
        const visible = snapshot !== undefined && (await storage.threadRole(params.id, principal.sub)) !== undefined;
        const active = visible ? snapshot.messages.find(unfinished) : undefined;
        if (!snapshot || !active) return new Response(null, { status: 204 });
        const channel = threadChannel(params.id);
        const state = await broker.state(channel);
        // The stored messages reflect events up to eventSeq of eventEpoch; of any other epoch, none yet (section 7.4).
        const since = snapshot.thread.eventEpoch === state.epoch ? (snapshot.thread.eventSeq ?? 0) : 0;
        const connection = streams.open(principal);
        return streams.respond(connection, async () => {
          // What the stored message holds, then the events after it: the whole run, each part once.
          connection.follow(active.id, { stored: { events: storedRunEvents(active), position: `${state.epoch}:${since}` } });
          await gateway.subscribe(connection, channel, { since, epoch: state.epoch, accessCheckedAt });
          connection.caughtUp();
        });
      },
      {
        params: t.Object({ id: AiSdkChatId }),
        detail: { summary: "The thread's active run as a UI message stream from its start, then live; 204 when none is active", ...bearer },
      },
    );
}
