// AG-UI over HTTP (docs/protocol.md section 12): `HttpAgent` of `@ag-ui/client` posts a RunAgentInput
// and reads the thread's run as AG-UI events; a cut stream resumes with Last-Event-ID. A thin adapter
// over the agent's startRun and the gateway's subscribe, with their permissions, limits and recovery.

import { Elysia, t } from "elysia";
import type { AgentService } from "../../agent/agent-service.ts";
import type { Principal } from "../../auth/principal.ts";
import type { TokenService } from "../../auth/tokens.ts";
import type { Broker } from "../../broker/broker.ts";
import type { Config } from "../../config.ts";
import type { Gateway } from "../../gateway/gateway.ts";
import { requirePrincipal } from "../../http/auth.ts";
import { bodyMatching, jsonRequestBody, readJsonBody } from "../../http/json-body.ts";
import type { ModelTool } from "../../agent/model/model-client.ts";
import { AG_UI_MAX_TOOL_SCHEMA_CHARS, AgUiRunInput, ErrorCode, ProtocolError, threadChannel } from "../../protocol/index.ts";
import type { Storage, ThreadRole } from "../../storage/storage.ts";
import { requireRole } from "../../storage/thread-role.ts";
import { admitStream, EVENT_STREAM_HEADERS, streamResponse } from "../sse/open-stream.ts";
import { SseWriteBatch } from "../sse/sse-connection.ts";
import { streamStart } from "../sse/sse-position.ts";
import { AgUiConnection } from "./ag-ui-connection.ts";

export interface AgUiRouteDeps {
  config: Pick<Config, "maxBodyBytes">;
  gateway: Gateway;
  tokens: TokenService;
  storage: Storage;
  broker: Broker;
  agent: AgentService;
}

const bearer = { security: [{ bearerAuth: [] }] };
const MAX_CONTENT_LENGTH = 100_000;

/** The text parts of a message's content (a string, or a list of parts of which the `text` ones count). */
function textOf(content: unknown): string {
  const parts: unknown[] = typeof content === "string" ? [{ type: "text", text: content }] : Array.isArray(content) ? content : [];
  return parts
    .flatMap((part) => {
      const { type, text } = (part ?? {}) as { type?: unknown; text?: unknown };
      return type === "text" && typeof text === "string" && text ? [text] : [];
    })
    .join("\n");
}

/** The front-end tools as the model is offered them; their names distinct, their schemas bounded. */
function clientToolsOf(input: AgUiRunInput): ModelTool[] {
  const names = new Set<string>();
  return input.tools.map((tool, index) => {
    if (names.has(tool.name)) throw new ProtocolError(ErrorCode.invalidMessage, `the tool name ${tool.name} is declared twice`, [`/tools/${index}/name`]);
    names.add(tool.name);
    const parameters = tool.parameters ?? { type: "object", properties: {} };
    if (JSON.stringify(parameters).length > AG_UI_MAX_TOOL_SCHEMA_CHARS) {
      throw new ProtocolError(ErrorCode.invalidMessage, `the parameters schema is longer than ${AG_UI_MAX_TOOL_SCHEMA_CHARS} characters`, [`/tools/${index}/parameters`]);
    }
    return { name: tool.name, description: tool.description ?? "", parameters };
  });
}

/** What the run answers: the last message, the user's text, or the results of the client's tool calls after the last assistant message. */
function turnOf(input: AgUiRunInput): { content: string } | { toolResults: { callId: string; content: string }[] } {
  const last = input.messages[input.messages.length - 1]!;
  const at = `/messages/${input.messages.length - 1}`;
  if (last.role === "tool") {
    const toolResults: { callId: string; content: string }[] = [];
    for (let i = input.messages.length - 1; i >= 0 && input.messages[i]!.role === "tool"; i--) {
      const message = input.messages[i]! as { toolCallId?: unknown; content?: unknown };
      if (typeof message.toolCallId !== "string" || message.toolCallId === "") throw new ProtocolError(ErrorCode.invalidMessage, "a tool message needs its toolCallId", [`/messages/${i}/toolCallId`]);
      const error = (message as { error?: unknown }).error;
      const content = textOf(message.content) || (typeof error === "string" && error ? `Error: ${error}` : "");
      if (content.length > MAX_CONTENT_LENGTH) throw new ProtocolError(ErrorCode.invalidMessage, `a tool result is longer than ${MAX_CONTENT_LENGTH} characters`, [`/messages/${i}/content`]);
      toolResults.unshift({ callId: message.toolCallId, content });
    }
    return { toolResults };
  }
  if (last.role !== "user") throw new ProtocolError(ErrorCode.invalidMessage, "the last message must be the user's or a tool result", [`${at}/role`]);
  const content = textOf(last.content);
  if (content.length === 0) throw new ProtocolError(ErrorCode.invalidMessage, "the last message has no text", [`${at}/content`]);
  if (content.length > MAX_CONTENT_LENGTH) throw new ProtocolError(ErrorCode.invalidMessage, `the last message is longer than ${MAX_CONTENT_LENGTH} characters`, [`${at}/content`]);
  return { content };
}

export function agUiRoutes({ config, gateway, tokens, storage, broker, agent }: AgUiRouteDeps) {
  const batch = new SseWriteBatch();
  const maxBytes = config.maxBodyBytes;

  /**
   * A thread the caller may use as `needed` (docs/protocol.md section 14), or a new one when `mayBeNew`; 404
   * as for an unknown one when it has no role (thread ids cannot be probed), 403 for a viewer running it.
   */
  const ownThread = async (principal: Principal, threadId: string, mayBeNew: boolean, needed: ThreadRole): Promise<void> => {
    const thread = await storage.getThread(threadId);
    if (!thread && mayBeNew) return;
    requireRole(thread && (await storage.threadRole(threadId, principal.sub)), needed, threadId);
  };

  /** A registered stream of the caller's, within their connection limit. */
  const openStream = (principal: Principal, threadId: string) => admitStream(gateway, new AgUiConnection(principal, gateway, batch, threadId));
  const starting = (connection: AgUiConnection, start: () => Promise<void>) => streamResponse(connection, EVENT_STREAM_HEADERS, start);

  return new Elysia({ name: "ag-ui-routes" })
    .post(
      "/ag-ui",
      async ({ request }) => {
        // The caller first: no body is read for an unknown one (docs/protocol.md section 7.2).
        const principal = await requirePrincipal(tokens, request.headers.get("authorization"));
        const body = await readJsonBody(request, { maxBytes });
        const input = bodyMatching(AgUiRunInput, body, "request does not match an AG-UI RunAgentInput");
        const turn = turnOf(input);
        const clientTools = clientToolsOf(input);
        const accessCheckedAt = gateway.revocationMark();
        await ownThread(principal, input.threadId, true, "editor");
        const connection = openStream(principal, input.threadId);
        return starting(connection, async () => {
          // Following the thread before the run starts: the stream has its every event from the first.
          await gateway.subscribe(connection, threadChannel(input.threadId), { accessCheckedAt });
          const accepted = await agent.startRun({
            caller: { userId: principal.sub },
            threadId: input.threadId,
            content: "content" in turn ? turn.content : "",
            toolResults: "toolResults" in turn ? turn.toolResults : undefined,
            clientTools,
            useReasoning: input.forwardedProps?.use_reasoning,
            createThread: true,
          });
          connection.follow(accepted.message_id);
        });
      },
      {
        parse: "none",
        detail: {
          summary: "Run the agent on a thread as AG-UI's HttpAgent does; the run as AG-UI events over SSE",
          requestBody: jsonRequestBody(AgUiRunInput),
          ...bearer,
        },
      },
    )
    .get(
      "/ag-ui/threads/:threadId/events",
      async ({ request, params }) => {
        const principal = await requirePrincipal(tokens, request.headers.get("authorization"));
        const start = streamStart(request);
        if (start.since === undefined) throw new ProtocolError(ErrorCode.invalidMessage, "a position is required: Last-Event-ID: <epoch>:<seq>", ["Last-Event-ID"]);
        const accessCheckedAt = gateway.revocationMark();
        await ownThread(principal, params.threadId, false, "viewer");
        const channel = threadChannel(params.threadId);
        const connection = openStream(principal, params.threadId);
        return starting(connection, async () => {
          await gateway.subscribe(connection, channel, { since: start.since, epoch: start.epoch, currentEpoch: start.currentEpoch, accessCheckedAt });
          // The events before the position, for the run the stream picks up in its middle.
          const epoch = start.epoch ?? (await broker.state(channel)).epoch;
          connection.resume((await broker.recover(channel, 0, epoch)).publications);
        });
      },
      {
        params: t.Object({ threadId: t.String({ minLength: 1, maxLength: 128 }) }),
        detail: { summary: "Resume a cut AG-UI stream after its Last-Event-ID: the rest of that run as AG-UI events", ...bearer },
      },
    );
}
