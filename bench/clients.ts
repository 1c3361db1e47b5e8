// WebSocket clients for the benchmarks: connect, subscribe, open many in batches and close them all.

import { readFileSync } from "node:fs";
import type { Claims } from "../src/auth/principal.ts";
import { createTokenService } from "../src/auth/tokens.ts";
import { JWT_SECRET } from "./servers.ts";

const CONNECT_TIMEOUT_MS = 10_000;

let benchToken: Promise<string> | undefined;
const tokenService = createTokenService(JWT_SECRET);

/** One token for every bench connection; the baseline ignores it. */
export function token(): Promise<string> {
  return (benchToken ??= signToken({ sub: "bench", subscribe: ["*"], publish: ["*"] }));
}

/** A token for another user, e.g. one per run sender, since agentwire limits concurrent runs per user. */
export function signToken(claims: Omit<Claims, "exp">): Promise<string> {
  return tokenService.sign(claims, 3600);
}

function frameOf(event: MessageEvent): { channel?: string; id?: string; payload?: Record<string, unknown> } {
  return JSON.parse(String(event.data));
}

/** Open a socket and wait for the server's `connected` frame, which only comes after authentication. */
export async function connect(url: string, tokenText?: string): Promise<WebSocket> {
  const socket = new WebSocket(`${url}?token=${tokenText ?? (await token())}`);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => fail(new Error(`no connected frame from ${url} within ${CONNECT_TIMEOUT_MS} ms`)), CONNECT_TIMEOUT_MS);
    const fail = (error: Error) => {
      clearTimeout(timer);
      socket.onmessage = null;
      socket.close();
      reject(error);
    };
    socket.onerror = () => fail(new Error(`socket error while connecting to ${url}`));
    socket.onclose = (event) => fail(new Error(`closed with ${event.code} while connecting to ${url}`));
    socket.onmessage = (event) => {
      const frame = frameOf(event);
      if (frame.channel !== "system" || frame.payload?.type !== "connected") return fail(new Error(`unexpected first frame ${event.data}`));
      clearTimeout(timer);
      socket.onmessage = socket.onerror = socket.onclose = null;
      resolve(socket);
    };
  });
}

/** Subscribe and wait for the ack; after it, every publication of the channel reaches this socket. */
export function subscribe(socket: WebSocket, channel: string): Promise<void> {
  const id = "s1";
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no subscription ack for ${channel}`)), CONNECT_TIMEOUT_MS);
    socket.onmessage = (event) => {
      const frame = frameOf(event);
      clearTimeout(timer);
      socket.onmessage = null;
      if (frame.channel === "subscription" && frame.id === id && frame.payload?.status === "subscribed") resolve();
      else reject(new Error(`unexpected reply to subscribe: ${event.data}`));
    };
    socket.send(JSON.stringify({ channel: "subscription", id, payload: { action: "subscribe", channel } }));
  });
}

export async function connectAndSubscribe(url: string, channel: string, tokenText?: string): Promise<WebSocket> {
  const socket = await connect(url, tokenText);
  try {
    await subscribe(socket, channel);
  } catch (error) {
    socket.close();
    throw error;
  }
  return socket;
}

/**
 * Open `count` sockets, at most `batchSize` handshakes at a time, so neither side's accept queue overflows.
 * On a failure the sockets already opened are closed before the error is rethrown.
 */
export async function openMany(count: number, batchSize: number, open: (index: number) => Promise<WebSocket>): Promise<WebSocket[]> {
  const sockets: WebSocket[] = [];
  try {
    for (let start = 0; start < count; start += batchSize) {
      const batch: Promise<WebSocket>[] = [];
      for (let index = start; index < Math.min(count, start + batchSize); index++) batch.push(open(index));
      const settled = await Promise.allSettled(batch);
      for (const result of settled) if (result.status === "fulfilled") sockets.push(result.value);
      const failure = settled.find((result) => result.status === "rejected");
      if (failure) throw (failure as PromiseRejectedResult).reason;
    }
  } catch (error) {
    await closeAll(sockets);
    throw error;
  }
  return sockets;
}

/** Fail early, with a clear message, when this process (and the servers it spawns) cannot hold `sockets` open at once. */
export function checkFileLimit(sockets: number): void {
  const match = /^Max open files\s+(\d+|unlimited)/m.exec(readFileSync("/proc/self/limits", "utf8"));
  if (!match || match[1] === "unlimited") return;
  // Headroom for stdio, pipes, the runtime's own descriptors and sockets still closing from a previous step.
  const needed = sockets + 256;
  if (Number(match[1]) < needed) {
    throw new Error(`the open-file limit is ${match[1]} but this step needs about ${needed}; raise it with \`ulimit -n ${needed}\``);
  }
}

/** Close every socket and wait (bounded) until the close handshakes are done. */
export async function closeAll(sockets: WebSocket[], timeoutMs = 5_000): Promise<void> {
  const closed = sockets.map(
    (socket) =>
      new Promise<void>((resolve) => {
        if (socket.readyState === WebSocket.CLOSED) return resolve();
        socket.onmessage = null;
        socket.onclose = () => resolve();
        socket.close();
      }),
  );
  await Promise.race([Promise.all(closed), Bun.sleep(timeoutMs)]);
}
