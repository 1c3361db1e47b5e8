// What the SSE tests share: stream URLs, publishing over HTTP, and the check that a stream is written
// as docs/protocol.md section 10 says (every event parses, data is the payload plus seq).

import { expect } from "bun:test";
import { Value } from "@sinclair/typebox/value";
import { RunEventPayload, SseResetData } from "../../../src/protocol/index.ts";
import { positionOf, type SseEvent, type SseItem } from "../../helpers/sse-client.ts";

export const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

export const channelEvents = (baseUrl: string, channel: string, query = "") => `${baseUrl}/channels/${encodeURIComponent(channel)}/events${query}`;

export const threadEvents = (baseUrl: string, threadId: string, query = "") => `${baseUrl}/threads/${encodeURIComponent(threadId)}/events${query}`;

/** POST /publish; returns the publication's seq. */
export async function publishOverHttp(baseUrl: string, token: string, channel: string, payload: Record<string, unknown>): Promise<number> {
  const response = await fetch(`${baseUrl}/publish`, {
    method: "POST",
    headers: { ...bearer(token), "content-type": "application/json" },
    body: JSON.stringify({ channel, payload }),
  });
  const body = (await response.json()) as { seq?: number };
  if (response.status !== 200 || body.seq === undefined) throw new Error(`publish failed: ${response.status} ${JSON.stringify(body)}`);
  return body.seq;
}

/** The JSON error body of a refused stream. */
export async function refusal(url: string, headers: Record<string, string> = {}): Promise<{ status: number; body: unknown }> {
  const response = await fetch(url, { headers });
  return { status: response.status, body: await response.json() };
}

/** Events that carry a publication (data, and not a reset), in order. */
export function publicationsOf(items: SseItem[]): SseEvent[] {
  return items.filter((item): item is SseEvent => item.kind === "event" && item.data !== undefined && item.event !== "reset");
}

export function seqsOf(items: SseItem[]): number[] {
  return publicationsOf(items).map((event) => positionOf(event.id!).seq);
}

/**
 * Every block the server wrote is well-formed: known fields only, an `<epoch>:<seq>` id on each, a
 * name on each one with data; a publication's data is its payload with that seq, named by its type;
 * a reset's data is SseResetData at the id's position; comments are pings.
 */
export function expectWellFormed(items: SseItem[]): void {
  for (const item of items) {
    if (item.kind === "comment") {
      expect(item.text).toBe("ping");
      continue;
    }
    expect(item.unknownFields).toEqual([]);
    expect(item.id).toMatch(/^[A-Za-z0-9_-]+:\d+$/);
    const position = positionOf(item.id!);
    if (item.data === undefined) {
      // A position-only block: no name, nothing dispatched.
      expect(item.event).toBeUndefined();
      continue;
    }
    const data = JSON.parse(item.data) as Record<string, unknown>;
    if (item.event === "reset") {
      expect(Value.Check(SseResetData, data)).toBe(true);
      expect(data).toEqual(position);
      continue;
    }
    expect(data.seq).toBe(position.seq);
    // A type that could not be a field value on one line (or a very long one) is not used as the name.
    const named = typeof data.type === "string" && data.type.length > 0 && data.type.length <= 64 && !/[\r\n]/.test(data.type);
    expect(item.event).toBe(named ? (data.type as string) : "publication");
  }
}

/** A run event's data without its seq, checked against RunEventPayload. */
export function runEventOf(event: SseEvent): RunEventPayload {
  const { seq: _seq, ...payload } = JSON.parse(event.data!) as Record<string, unknown>;
  const errors = [...Value.Errors(RunEventPayload, payload)].map((error) => `${error.path}: ${error.message}`);
  expect(errors).toEqual([]);
  return payload as RunEventPayload;
}
