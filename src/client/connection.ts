// The connection as an explicit state machine (disconnected, connecting, connected, closed) with one
// setState and one disconnect path: authentication in the first frame, token refresh, full-jitter
// reconnects, heartbeats and requests by id. AgentwireClient builds channels and chat on top of it.

import { CloseCode } from "../protocol/codes.ts";
import type { ConnectedPayload, ServerEnvelope } from "../protocol/server-frames.ts";
import type { PresenceFrame } from "../protocol/presence.ts";
import { Backoff } from "./backoff.ts";
import { ClientCloseCode, type AgentwireClientOptions, type ClientEvents, type ClientState } from "./client-options.ts";
import { Emitter } from "./emitter.ts";
import { AgentwireError, ClientErrorCode, errorFromPayload } from "./errors.ts";
import { parseServerFrame } from "./frames.ts";
import { Requests, type RequestSpec, type SendText } from "./requests.ts";
import { TokenSource, refreshLeadMs, tokenExpiry } from "./token.ts";
import { ReadyState, type WebSocketConstructor, type WebSocketLike } from "./websocket.ts";

// Close reasons (with 1008) meaning the token itself was refused; `authentication required` is also what
// an empty or oversized token gets.
const TOKEN_REFUSALS = new Set(["invalid token", "token expired", "token names another user", "authentication required"]);
// How soon a failed getToken() during a refresh is tried again.
const REFRESH_RETRY_MS = 1_000;

/** WebSocket.close() accepts only 1000 and 3000-4999. */
const closableCode = (code: number) => (code === 1000 || (code >= 3000 && code <= 4999) ? code : 1000);

export abstract class Connection extends Emitter<ClientEvents> {
  state: ClientState = "disconnected";
  /** The server's `connected` payload for the current connection. */
  connection: ConnectedPayload | undefined;

  protected readonly requests: Requests;
  protected readonly requestTimeoutMs: number;
  protected readonly minReconnectDelayMs: number;
  protected readonly maxReconnectDelayMs: number;
  /** Authenticated: frames can be sent. */
  protected online = false;
  protected readonly tokens: TokenSource;
  private readonly url: string;
  private readonly WebSocketImpl: WebSocketConstructor;
  private readonly heartbeatIntervalMs: number;
  private readonly heartbeatTimeoutMs: number;
  private readonly stableConnectionMs: number;
  private readonly backoff: Backoff;
  private stoppedByRefusal = false;
  /** The token the current connection authenticated (or last refreshed) with. */
  private connectionToken: string | undefined;
  private pendingToken: string | undefined;
  private socket: WebSocketLike | undefined;
  // Bumped by every disconnect, so a getToken() of an earlier attempt does nothing.
  private attempt = 0;
  private clockOffsetMs = 0;
  private reconnectTimer: ReturnType<typeof setTimeout> | undefined;
  private connectTimer: ReturnType<typeof setTimeout> | undefined;
  private heartbeatTimer: ReturnType<typeof setTimeout> | undefined;
  private refreshTimer: ReturnType<typeof setTimeout> | undefined;
  private stableTimer: ReturnType<typeof setTimeout> | undefined;

  constructor(options: AgentwireClientOptions) {
    super();
    this.url = options.url;
    const WebSocketImpl = options.WebSocket ?? (globalThis as { WebSocket?: WebSocketConstructor }).WebSocket;
    if (!WebSocketImpl) throw new AgentwireError(ClientErrorCode.transport, "no WebSocket implementation: pass the `WebSocket` option");
    this.WebSocketImpl = WebSocketImpl;
    this.tokens = new TokenSource(options.token, options.getToken);
    this.requestTimeoutMs = options.requestTimeoutMs ?? 10_000;
    this.heartbeatIntervalMs = options.heartbeatIntervalMs ?? 15_000;
    this.heartbeatTimeoutMs = options.heartbeatTimeoutMs ?? this.requestTimeoutMs;
    this.stableConnectionMs = options.stableConnectionMs ?? 5_000;
    this.minReconnectDelayMs = options.minReconnectDelayMs ?? 250;
    this.maxReconnectDelayMs = options.maxReconnectDelayMs ?? 10_000;
    this.backoff = new Backoff(this.minReconnectDelayMs, this.maxReconnectDelayMs);
    this.requests = new Requests(options.maxOfflineQueue ?? 100);
  }

  /** A frame without id, other than `connected` (publications, announcements, errors). */
  protected abstract onFrame(frame: ServerEnvelope): void;
  /** A presence frame of a channel subscribed with `presence: true` (docs/protocol.md section 14). */
  protected abstract onPresenceFrame(frame: PresenceFrame): void;
  /** Authenticated, before the application hears of it: resubscribe and send what waited. */
  protected abstract onOnline(): void;
  /** The transport closed: the server forgot this connection's subscriptions. */
  protected abstract onOffline(): void;

  /** Starts connecting (and reconnecting until disconnect()); a no-op while connecting or connected. */
  connect(): void {
    if (this.state === "closed") throw new AgentwireError(ClientErrorCode.clientClosed, "the client is closed");
    if (this.state !== "disconnected") return;
    this.stoppedByRefusal = false;
    this.backoff.reset();
    this.setState("connecting");
    void this.openConnection();
  }

  /** Closes the connection and stops reconnecting. Subscriptions and queued frames stay for the next connect(). */
  disconnect(): void {
    if (this.state === "closed" || this.state === "disconnected") return;
    this.handleDisconnect(ClientCloseCode.clientDisconnect, "client disconnect", true);
  }

  /**
   * A new token: sent at once as a refresh when connected, else used by the next connect; after the server
   * refused the previous static token, this reconnects.
   */
  setToken(token: string): void {
    if (this.state === "closed") throw new AgentwireError(ClientErrorCode.clientClosed, "the client is closed");
    this.tokens.set(token);
    if (this.online) this.sendRefresh(token);
    else if (this.state === "disconnected" && this.stoppedByRefusal) this.connect();
  }

  /** Frames waiting in the offline queue. */
  get queuedRequests(): number {
    return this.requests.queued;
  }

  /** Ends the connection for good; the subclass fails what it holds. */
  protected closeConnection(): void {
    if (this.state !== "disconnected") this.handleDisconnect(ClientCloseCode.clientDisconnect, "client closed", true);
    this.setState("closed");
  }

  protected setState(state: ClientState): void {
    if (this.state === state) return;
    const previous = this.state;
    this.state = state;
    this.emit("state", { state, previous });
  }

  /** Sends a request now when online; else queues it (when `queue`) or fails it. */
  protected startRequest(spec: RequestSpec, queue: boolean): void {
    if (this.state === "closed") return spec.onFail(new AgentwireError(ClientErrorCode.clientClosed, "the client is closed"));
    this.requests.start(spec, this.sender(), queue);
  }

  /** The bearer token for REST: the connection's while it is fresh, else a new one. */
  protected httpToken(refresh: boolean): Promise<string> {
    return this.tokens.forRequest(refresh ? undefined : this.connectionToken, this.serverNow());
  }

  private sender(): SendText | undefined {
    return this.online ? (text) => this.sendText(text) : undefined;
  }

  private sendText(text: string): void {
    try {
      this.socket?.send(text);
    } catch {
      // The socket is closing; its close event fails what waits for a reply.
    }
  }

  // ---- connecting ----

  private async openConnection(): Promise<void> {
    this.reconnectTimer = undefined;
    const attempt = ++this.attempt;
    let token: string;
    try {
      token = await this.tokens.next();
    } catch (error) {
      if (attempt !== this.attempt || this.state !== "connecting") return;
      this.emit("error", error instanceof AgentwireError ? error : new AgentwireError(ClientErrorCode.tokenUnavailable, "getToken() failed", undefined, { cause: error }));
      if (!this.tokens.refreshable) return this.handleDisconnect(ClientCloseCode.clientDisconnect, "no token", true);
      return this.scheduleReconnect();
    }
    if (attempt !== this.attempt || this.state !== "connecting") return;
    let socket: WebSocketLike;
    try {
      socket = new this.WebSocketImpl(this.url);
    } catch (error) {
      // A URL the WebSocket refuses will not get better by retrying.
      this.emit("error", new AgentwireError(ClientErrorCode.transport, `cannot open a WebSocket to ${this.url}`, undefined, { cause: error }));
      return this.handleDisconnect(ClientCloseCode.clientDisconnect, "bad url", true);
    }
    this.socket = socket;
    this.pendingToken = token;
    socket.onopen = () => {
      if (socket === this.socket) this.sendText(JSON.stringify({ channel: "auth", payload: { token } }));
    };
    socket.onmessage = (event: { data?: unknown }) => {
      if (socket === this.socket) this.onMessage(event?.data);
    };
    socket.onclose = (event: { code?: unknown; reason?: unknown }) => {
      if (socket !== this.socket) return;
      const code = typeof event?.code === "number" ? event.code : ClientCloseCode.abnormal;
      this.handleDisconnect(code, typeof event?.reason === "string" ? event.reason : "");
    };
    // Every error is followed by a close event, which is where the disconnect is handled.
    socket.onerror = () => {};
    this.connectTimer = setTimeout(() => this.handleDisconnect(ClientCloseCode.connectTimeout, "connect timeout"), this.requestTimeoutMs);
  }

  private scheduleReconnect(): void {
    this.setState("connecting");
    this.reconnectTimer = setTimeout(() => void this.openConnection(), this.backoff.next());
  }

  private onAuthenticated(connected: ConnectedPayload): void {
    clearTimeout(this.connectTimer);
    this.connectionToken = this.pendingToken;
    this.pendingToken = undefined;
    this.clockOffsetMs = typeof connected.server_time === "number" ? connected.server_time * 1000 - Date.now() : 0;
    this.connection = connected;
    this.online = true;
    this.stableTimer = setTimeout(() => this.backoff.reset(), this.stableConnectionMs);
    // Resubscribe and send the offline queue before the application hears of the connection, so what it
    // sends from its listeners goes after what already waited.
    this.onOnline();
    this.requests.flush((text) => this.sendText(text));
    this.startHeartbeat();
    this.scheduleRefresh();
    this.setState("connected");
    this.emit("connected", connected);
  }

  /**
   * The one disconnect path: server closes, network errors, heartbeat and connect timeouts, disconnect()
   * and close(). Decides whether and when to reconnect.
   */
  private handleDisconnect(code: number, reason: string, stop = false): void {
    const socket = this.socket;
    this.socket = undefined;
    this.online = false;
    this.connection = undefined;
    this.pendingToken = undefined;
    this.attempt++;
    for (const timer of [this.reconnectTimer, this.connectTimer, this.heartbeatTimer, this.refreshTimer, this.stableTimer]) clearTimeout(timer);
    this.reconnectTimer = this.connectTimer = this.heartbeatTimer = this.refreshTimer = this.stableTimer = undefined;
    if (socket) {
      socket.onopen = socket.onmessage = socket.onclose = socket.onerror = null;
      if (socket.readyState === ReadyState.connecting || socket.readyState === ReadyState.open) {
        try {
          socket.close(closableCode(code), reason.slice(0, 120));
        } catch {
          // Already closing.
        }
      }
    }
    this.requests.failInFlight(
      new AgentwireError(ClientErrorCode.disconnected, `the connection closed (${code}${reason ? ` ${reason}` : ""}) before the reply; the request may or may not have been applied`),
    );
    this.onOffline();

    const refused = !stop && code === CloseCode.policyViolation && TOKEN_REFUSALS.has(reason) && !this.tokens.refreshable;
    if (stop || refused) {
      this.stoppedByRefusal = refused;
      this.setState("disconnected");
      this.emit("disconnected", { code, reason, reconnecting: false });
      if (refused) this.emit("error", new AgentwireError(ClientErrorCode.tokenRefused, `the server refused the token (${reason}); call setToken() with a new one`));
      return;
    }
    // A server going away (shutdown, idle) or shedding a slow consumer: come back promptly, with jitter.
    // A refused token with getToken: the reconnect asks getToken for a new one.
    if (code === CloseCode.goingAway || code === CloseCode.tryAgainLater) this.backoff.reset();
    this.scheduleReconnect();
    this.emit("disconnected", { code, reason, reconnecting: true });
  }

  private onMessage(data: unknown): void {
    const frame = parseServerFrame(data);
    if (!frame) {
      this.emit("error", new AgentwireError(ClientErrorCode.badFrame, "the server sent a frame that is not a protocol envelope"));
      return;
    }
    if ("presence" in frame) return this.onPresenceFrame(frame);
    // A frame with an id is a direct reply; one nobody waits for any more (timed out) is dropped.
    if (frame.id !== undefined) {
      this.requests.reply(frame);
      return;
    }
    if (frame.channel === "system" && frame.payload.type === "connected") {
      if (!this.online && this.socket) this.onAuthenticated(frame.payload as unknown as ConnectedPayload);
      return;
    }
    if (frame.channel === "error") return this.emit("error", errorFromPayload(frame.payload));
    this.onFrame(frame);
  }

  // ---- heartbeat and token refresh ----

  private startHeartbeat(): void {
    if (this.heartbeatIntervalMs <= 0) return;
    const socket = this.socket;
    this.heartbeatTimer = setTimeout(() => {
      this.heartbeatTimer = undefined;
      if (socket !== this.socket || !this.online) return;
      this.startRequest(
        {
          channel: "system",
          payload: { type: "ping" },
          timeoutMs: this.heartbeatTimeoutMs,
          onReply: () => {
            if (socket === this.socket && this.online) this.startHeartbeat();
          },
          onFail: (error) => {
            if (socket === this.socket && error.code === ClientErrorCode.timeout) this.handleDisconnect(ClientCloseCode.heartbeatTimeout, "heartbeat timeout");
          },
        },
        false,
      );
    }, this.heartbeatIntervalMs);
  }

  private serverNow(): number {
    return Date.now() + this.clockOffsetMs;
  }

  /** With getToken and a token that expires: refresh it over the open connection a little before. */
  private scheduleRefresh(): void {
    clearTimeout(this.refreshTimer);
    this.refreshTimer = undefined;
    if (!this.tokens.refreshable || !this.connectionToken) return;
    const expiry = tokenExpiry(this.connectionToken);
    if (expiry === undefined) return;
    const lifetimeMs = expiry * 1000 - this.serverNow();
    const socket = this.socket;
    this.refreshTimer = setTimeout(() => void this.refreshToken(socket), Math.max(0, lifetimeMs - refreshLeadMs(lifetimeMs)));
  }

  private async refreshToken(socket: WebSocketLike | undefined): Promise<void> {
    this.refreshTimer = undefined;
    let token: string;
    try {
      token = await this.tokens.fresh();
    } catch (error) {
      if (socket !== this.socket || !this.online) return;
      this.emit("error", new AgentwireError(ClientErrorCode.tokenUnavailable, "getToken() failed while refreshing the token", undefined, { cause: error }));
      // Try again while the current token lasts; past it, the server closes and the reconnect asks again.
      const expiry = tokenExpiry(this.connectionToken ?? "");
      if (expiry !== undefined && expiry * 1000 > this.serverNow() + REFRESH_RETRY_MS) {
        this.refreshTimer = setTimeout(() => void this.refreshToken(socket), REFRESH_RETRY_MS);
      }
      return;
    }
    if (socket !== this.socket || !this.online) return;
    this.sendRefresh(token);
  }

  private sendRefresh(token: string): void {
    const socket = this.socket;
    const previousExpiry = tokenExpiry(this.connectionToken ?? "");
    this.startRequest(
      {
        channel: "auth",
        payload: { token },
        timeoutMs: this.requestTimeoutMs,
        onReply: (frame) => {
          if (socket !== this.socket) return;
          if (frame.channel === "error") return this.emit("error", errorFromPayload(frame.payload));
          this.connectionToken = token;
          if (frame.payload.type === "connected") this.connection = frame.payload as unknown as ConnectedPayload;
          // A token that lives no longer than the previous one would be refreshed again at once.
          const expiry = tokenExpiry(token);
          if (expiry === undefined || previousExpiry === undefined || expiry > previousExpiry) this.scheduleRefresh();
        },
        onFail: (error) => {
          if (socket === this.socket && error.code !== ClientErrorCode.disconnected) this.emit("error", error);
        },
      },
      false,
    );
  }
}
