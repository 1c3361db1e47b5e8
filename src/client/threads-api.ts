// The REST side (docs/protocol.md section 7): threads and their messages, with the bearer token and typed errors.

import type { MemberList, MemberRole, MemberView, MessageView, ThreadList, ThreadSnapshot, ThreadView } from "../protocol/rest-views.ts";
import type { PresencePayload } from "../protocol/presence.ts";
import type { RunAccepted } from "../protocol/server-frames.ts";
import { ApiError, ClientErrorCode } from "./errors.ts";

/** The part of fetch the REST calls use. */
export type FetchLike = (url: string, init: RequestInit) => Promise<Response>;

export interface ThreadsApiOptions {
  /** `http(s)://host[:port][/base]`, without a trailing slash. */
  httpUrl: string;
  /** The bearer token; `refresh` asks for a new one after a 401. */
  token(refresh: boolean): Promise<string>;
  /** Whether `token(true)` can return a different token than before. */
  canRefresh: boolean;
  fetch: FetchLike;
  timeoutMs: number;
}

export class ThreadsApi {
  constructor(private readonly options: ThreadsApiOptions) {}

  /** The caller's threads, most recently updated first. */
  async list(): Promise<ThreadView[]> {
    return (await this.call<ThreadList>("GET", "/threads")).threads;
  }

  async create(title?: string): Promise<ThreadView> {
    return this.call<ThreadView>("POST", "/threads", title === undefined ? {} : { title });
  }

  async messages(threadId: string): Promise<ThreadSnapshot> {
    return this.call<ThreadSnapshot>("GET", `/threads/${encodeURIComponent(threadId)}/messages`);
  }

  /** Starts a run over REST. Its events go to `thread:<id>`; attach with `client.chat.watch(threadId, accepted.message_id)`. */
  async send(threadId: string, content: string, options: { useReasoning?: boolean } = {}): Promise<RunAccepted> {
    const body: Record<string, unknown> = { content };
    if (options.useReasoning !== undefined) body.use_reasoning = options.useReasoning;
    return this.call<RunAccepted>("POST", `/threads/${encodeURIComponent(threadId)}/messages`, body);
  }

  async rename(threadId: string, title: string): Promise<ThreadView> {
    return this.call<ThreadView>("PATCH", `/threads/${encodeURIComponent(threadId)}`, { title });
  }

  /**
   * Answers the thread's last user message again; once the new run is stored, the answer it replaces is
   * deleted. Also retries a stopped or failed answer. Attach with `client.chat.watch(threadId, accepted.message_id)`.
   */
  async regenerate(threadId: string, options: { useReasoning?: boolean } = {}): Promise<RunAccepted> {
    const body = options.useReasoning === undefined ? {} : { use_reasoning: options.useReasoning };
    return this.call<RunAccepted>("POST", `/threads/${encodeURIComponent(threadId)}/regenerate`, body);
  }

  /** The users the thread is shared with (the owner only; others get `not_found`). */
  async members(threadId: string): Promise<MemberView[]> {
    return (await this.call<MemberList>("GET", `/threads/${encodeURIComponent(threadId)}/members`)).members;
  }

  /** Shares the thread with `user` as viewer or editor, or changes its role (docs/protocol.md section 14). */
  async setMember(threadId: string, user: string, role: MemberRole): Promise<MemberView> {
    return this.call<MemberView>("PUT", `/threads/${encodeURIComponent(threadId)}/members/${encodeURIComponent(user)}`, { role });
  }

  /** Stops sharing the thread with `user`; its subscriptions to the thread end at once. */
  async removeMember(threadId: string, user: string): Promise<void> {
    await this.call<void>("DELETE", `/threads/${encodeURIComponent(threadId)}/members/${encodeURIComponent(user)}`);
  }

  /** Who is present on a channel, over REST: one page, `next_cursor` when more follow. */
  async presence(channel: string, query: { limit?: number; cursor?: string } = {}): Promise<PresencePayload> {
    const search = new URLSearchParams();
    if (query.limit !== undefined) search.set("limit", String(query.limit));
    if (query.cursor !== undefined) search.set("cursor", query.cursor);
    const suffix = search.size > 0 ? `?${search}` : "";
    return this.call<PresencePayload>("GET", `/channels/${encodeURIComponent(channel)}/presence${suffix}`);
  }

  /** Stops the thread's run if one is active, then deletes the thread and its messages. */
  async delete(threadId: string): Promise<void> {
    await this.call<void>("DELETE", `/threads/${encodeURIComponent(threadId)}`);
  }

  private async call<T>(method: string, path: string, body?: unknown): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      const token = await this.options.token(attempt > 0);
      const response = await this.fetchWithTimeout(method, path, token, body);
      // One retry with a fresh token: the cached one may have expired a moment ago.
      if (response.status === 401 && attempt === 0 && this.options.canRefresh) {
        await response.body?.cancel();
        continue;
      }
      if (!response.ok) throw await apiErrorOf(response, method, path);
      if (response.status === 204) return undefined as T;
      return (await response.json()) as T;
    }
  }

  private async fetchWithTimeout(method: string, path: string, token: string, body: unknown): Promise<Response> {
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), this.options.timeoutMs);
    const headers: Record<string, string> = { authorization: `Bearer ${token}` };
    if (body !== undefined) headers["content-type"] = "application/json";
    try {
      return await this.options.fetch(this.options.httpUrl + path, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: controller.signal,
      });
    } catch (error) {
      if (controller.signal.aborted) {
        throw new ApiError(ClientErrorCode.timeout, `${method} ${path}: no answer within ${this.options.timeoutMs} ms`, 0, undefined, { cause: error });
      }
      throw new ApiError(ClientErrorCode.http, `${method} ${path} failed: ${String(error)}`, 0, undefined, { cause: error });
    } finally {
      clearTimeout(timer);
    }
  }
}

async function apiErrorOf(response: Response, method: string, path: string): Promise<ApiError> {
  let body: unknown;
  try {
    body = await response.json();
  } catch {
    body = undefined;
  }
  const fields = (typeof body === "object" && body !== null ? body : {}) as Record<string, unknown>;
  const code = typeof fields.code === "string" ? fields.code : ClientErrorCode.http;
  const message = typeof fields.message === "string" ? fields.message : `${method} ${path} answered ${response.status}`;
  const details = Array.isArray(fields.details) ? fields.details.map(String) : undefined;
  return new ApiError(code, message, response.status, details);
}

/** The REST base of a WebSocket URL: `ws://host:8080/ws?token=x` gives `http://host:8080`. */
export function httpUrlOf(wsUrl: string): string {
  const url = new URL(wsUrl);
  if (url.protocol === "ws:") url.protocol = "http:";
  else if (url.protocol === "wss:") url.protocol = "https:";
  url.pathname = url.pathname.replace(/\/ws\/?$/, "");
  url.search = "";
  url.hash = "";
  return url.toString().replace(/\/$/, "");
}
