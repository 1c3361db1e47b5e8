// The Vercel AI SDK's HTTP chat transport (docs/protocol.md section 11), both directions: the body its
// DefaultChatTransport posts, and the UI message stream chunks (v1) agentwire answers with. Only the
// chunks agentwire emits are declared; they are a subset of the `ai` package's own UIMessageChunk.

import { Type, type Static, type TProperties } from "@sinclair/typebox";
import { literalUnion } from "./literal-union.ts";
import { WITHOUT_NUL } from "./schemas.ts";

/** The header that tells the AI SDK's client which stream protocol the body speaks. */
export const UI_MESSAGE_STREAM_HEADER = "x-vercel-ai-ui-message-stream";
export const UI_MESSAGE_STREAM_VERSION = "v1";

/** The line that ends every UI message stream, after the run's last chunk. */
export const UI_MESSAGE_STREAM_DONE = "[DONE]";

// ---- what the client sends ----

/** A chat id is a thread id, and `thread:<id>` must be a valid channel name. */
export const AiSdkChatId = Type.String({ pattern: "^[A-Za-z0-9_:.@-]{1,121}$" });

/** The answer `addToolApprovalResponse` puts in a tool part (`approved` is absent while none is given). */
export const AiSdkToolApproval = Type.Object({
  id: Type.String({ maxLength: 256 }),
  approved: Type.Optional(Type.Boolean()),
  reason: Type.Optional(Type.String({ maxLength: 10_000, pattern: WITHOUT_NUL })),
});

/**
 * A part of a UI message: text parts of the user's message are read, and of the assistant's last
 * message the tool parts' state, call id and approval; other fields and kinds are accepted and ignored.
 */
export const AiSdkMessagePart = Type.Object({
  type: Type.String({ minLength: 1, maxLength: 128 }),
  text: Type.Optional(Type.String({ maxLength: 100_000, pattern: WITHOUT_NUL })),
  state: Type.Optional(Type.String({ maxLength: 64 })),
  toolCallId: Type.Optional(Type.String({ maxLength: 256 })),
  approval: Type.Optional(AiSdkToolApproval),
});
export type AiSdkMessagePart = Static<typeof AiSdkMessagePart>;

export const AiSdkMessage = Type.Object({
  id: Type.String({ maxLength: 256 }),
  role: literalUnion("system", "user", "assistant"),
  parts: Type.Array(AiSdkMessagePart, { maxItems: 1000 }),
});
export type AiSdkMessage = Static<typeof AiSdkMessage>;

/**
 * `POST /ai-sdk/chat`: what `DefaultChatTransport.sendMessages` posts (`id`, `messages`, `trigger`,
 * `messageId`), plus the app's own body fields, of which agentwire reads `use_reasoning`. Only the
 * last message is used; earlier ones come from the stored thread.
 */
export const AiSdkChatRequest = Type.Object({
  id: AiSdkChatId,
  messages: Type.Array(AiSdkMessage, { minItems: 1, maxItems: 10_000 }),
  trigger: literalUnion("submit-message", "regenerate-message"),
  messageId: Type.Optional(Type.String({ maxLength: 256 })),
  use_reasoning: Type.Optional(Type.Boolean()),
});
export type AiSdkChatRequest = Static<typeof AiSdkChatRequest>;

// ---- what the server sends ----

/** Extra data a chunk carries for agentwire's own readers, under `providerMetadata.agentwire`. */
const AgentwireMetadata = Type.Object({ agentwire: Type.Record(Type.String(), Type.String()) });

const chunk = <T extends string, P extends TProperties>(type: T, properties: P) =>
  Type.Object({ type: Type.Literal(type), ...properties }, { additionalProperties: false });

/** Opens the assistant message; `messageId` is agentwire's assistant message id. */
export const StartChunk = chunk("start", { messageId: Type.String() });
/** One model round: its reasoning, text and tool calls. */
export const StartStepChunk = chunk("start-step", {});
export const FinishStepChunk = chunk("finish-step", {});
export const TextStartChunk = chunk("text-start", { id: Type.String() });
export const TextDeltaChunk = chunk("text-delta", { id: Type.String(), delta: Type.String() });
export const TextEndChunk = chunk("text-end", { id: Type.String() });
export const ReasoningStartChunk = chunk("reasoning-start", { id: Type.String() });
export const ReasoningDeltaChunk = chunk("reasoning-delta", { id: Type.String(), delta: Type.String() });
export const ReasoningEndChunk = chunk("reasoning-end", { id: Type.String() });
/** A tool call with its arguments: the parsed object, or the raw text when it is not JSON. */
export const ToolInputAvailableChunk = chunk("tool-input-available", { toolCallId: Type.String(), toolName: Type.String(), input: Type.Unknown() });
/** A call waiting for the owner's approval; the approval id is the call id. */
export const ToolApprovalRequestChunk = chunk("tool-approval-request", { approvalId: Type.String(), toolCallId: Type.String() });
export const ToolApprovalResponseChunk = chunk("tool-approval-response", {
  approvalId: Type.String(),
  approved: Type.Boolean(),
  reason: Type.Optional(Type.String()),
});
export const ToolOutputAvailableChunk = chunk("tool-output-available", { toolCallId: Type.String(), output: Type.Unknown() });
export const ToolOutputErrorChunk = chunk("tool-output-error", { toolCallId: Type.String(), errorText: Type.String() });
/** A call the owner rejected, or whose approval timed out. */
export const ToolOutputDeniedChunk = chunk("tool-output-denied", { toolCallId: Type.String() });
/** A source with a URL; its snippet, when it has one, in `providerMetadata.agentwire.snippet`. */
export const SourceUrlChunk = chunk("source-url", {
  sourceId: Type.String(),
  url: Type.String(),
  title: Type.Optional(Type.String()),
  providerMetadata: Type.Optional(AgentwireMetadata),
});
/** A source without a URL (a stored message found by `search_history`), as plain text. */
export const SourceDocumentChunk = chunk("source-document", {
  sourceId: Type.String(),
  mediaType: Type.String(),
  title: Type.String(),
  providerMetadata: Type.Optional(AgentwireMetadata),
});
/** The run completed (`stop`), or waits for the answer to an approval request (`tool-calls`). */
export const FinishChunk = chunk("finish", { finishReason: literalUnion("stop", "tool-calls") });
/** The run was stopped. */
export const AbortChunk = chunk("abort", { reason: Type.Optional(Type.String()) });
/** The run failed, or its events could not be recovered; `errorText` says which. */
export const ErrorChunk = chunk("error", { errorText: Type.String() });

/** Every chunk agentwire writes on a UI message stream. */
export const UiMessageChunkSchemas = {
  StartChunk,
  StartStepChunk,
  FinishStepChunk,
  TextStartChunk,
  TextDeltaChunk,
  TextEndChunk,
  ReasoningStartChunk,
  ReasoningDeltaChunk,
  ReasoningEndChunk,
  ToolInputAvailableChunk,
  ToolApprovalRequestChunk,
  ToolApprovalResponseChunk,
  ToolOutputAvailableChunk,
  ToolOutputErrorChunk,
  ToolOutputDeniedChunk,
  SourceUrlChunk,
  SourceDocumentChunk,
  FinishChunk,
  AbortChunk,
  ErrorChunk,
} as const;

export const UiMessageChunk = Type.Union(Object.values(UiMessageChunkSchemas));
export type UiMessageChunk = Static<typeof UiMessageChunk>;
