// agentwire/client: the SDK for browsers, Bun and Node 20+. It imports nothing of the server, only the
// protocol's constants and types from src/protocol/.

export { AgentwireClient } from "./client.ts";
export type { RequestOptions } from "./client.ts";
export { ClientCloseCode } from "./client-options.ts";
export type { AgentwireClientOptions, ClientEvents, ClientState, DisconnectInfo } from "./client-options.ts";
export { Subscription } from "./subscription.ts";
export type { PresenceQuery, ResetHandler, ResumePosition, SubscribeOptions, SubscriptionEvents, SubscriptionState } from "./subscription.ts";
export { ChatApi } from "./chat.ts";
export type { SendOptions } from "./chat.ts";
export { RunHandle, finalEventOf } from "./run-handle.ts";
export type { RunHandleEvents } from "./run-handle.ts";
export { ThreadsApi, httpUrlOf } from "./threads-api.ts";
export type { FetchLike } from "./threads-api.ts";
export { AgentwireError, ApiError, ClientErrorCode } from "./errors.ts";
export type { AgentwireErrorCode } from "./errors.ts";
export { Backoff } from "./backoff.ts";
export { Emitter } from "./emitter.ts";
export { tokenExpiry } from "./token.ts";
export { ReadyState } from "./websocket.ts";
export type { WebSocketConstructor, WebSocketLike } from "./websocket.ts";
export type { Publication } from "./frames.ts";
export { ErrorCode, CloseCode } from "../protocol/codes.ts";
export { threadChannel, threadIdOf, userNoticeChannel } from "../protocol/channels.ts";
export type { UserNotice, UserNoticeType } from "../protocol/user-notices.ts";
export type { MemberRole, MemberView, MessageStatus, MessageView, StoredToolCall, ThreadRole, ThreadSnapshot, ThreadView } from "../protocol/rest-views.ts";
export { AGENT_USER } from "../protocol/agent-state.ts";
export type { AgentState, PresenceChange, PresenceDiff, PresencePayload, PresentClient } from "../protocol/presence.ts";
export type { RunEventPayload, SourceView, ToolCallStatus, ToolCallView, UsageView } from "../protocol/run-events.ts";
export type {
  ConnectedPayload,
  ErrorPayload,
  PublishedPayload,
  RunAccepted,
  RunControlAck,
  SubscribedPayload,
  UnsubscribedPayload,
} from "../protocol/server-frames.ts";
