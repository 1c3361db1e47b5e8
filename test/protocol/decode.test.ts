// decode(): the single gate between raw frames and typed commands.

import { describe, expect, test } from "bun:test";
import { MAX_JSON_DEPTH, decode } from "../../src/protocol/index.ts";

describe("decode", () => {
  test("publish frames keep their payload and id; unknown fields are ignored", () => {
    expect(decode(JSON.stringify({ channel: "news", id: "1", extra: true, payload: { a: 1 } }))).toEqual({
      kind: "publish",
      id: "1",
      channel: "news",
      payload: { a: 1 },
    });
  });

  test("subscribe with recovery fields", () => {
    expect(decode(JSON.stringify({ channel: "subscription", payload: { action: "subscribe", channel: "c", since: 0, epoch: "e" } }))).toEqual({
      kind: "subscribe",
      id: undefined,
      channel: "c",
      since: 0,
      epoch: "e",
    });
  });

  test("channel names follow the pattern", () => {
    const ok = "A-z_0:9.@-".repeat(12).slice(0, 128);
    expect(decode(JSON.stringify({ channel: ok, payload: {} })).kind).toBe("publish");
    for (const bad of ["", "x".repeat(129), "a b", "a/b", "é"]) {
      expect(decode(JSON.stringify({ channel: bad, payload: {} }))).toMatchObject({ kind: "error", code: "invalid_message", details: ["/channel"] });
    }
  });

  test("since must be a non-negative integer", () => {
    for (const since of [-1, 1.5, "3"]) {
      expect(decode(JSON.stringify({ channel: "subscription", payload: { action: "subscribe", channel: "c", since } }))).toMatchObject({
        code: "invalid_message",
        details: ["/payload/since"],
      });
    }
  });

  test("chat actions are checked per action", () => {
    expect(decode(JSON.stringify({ channel: "chat", payload: { action: "send", content: "hi" } })).kind).toBe("chat");
    expect(decode(JSON.stringify({ channel: "chat", payload: { action: "approve", message_id: "m" } }))).toMatchObject({
      code: "invalid_message",
      details: ["/payload/call_id"],
    });
  });

  test("binary, bad JSON and non-objects are coded errors", () => {
    expect(decode(new Uint8Array([1]))).toMatchObject({ code: "unsupported_frame" });
    expect(decode("{")).toMatchObject({ code: "invalid_json" });
    expect(decode("null")).toMatchObject({ code: "invalid_message" });
  });

  test("nesting deeper than MAX_JSON_DEPTH is invalid_message, refused before parsing", () => {
    // The envelope is one level, so its payload may nest MAX_JSON_DEPTH - 1 more.
    const frame = (levels: number) => `{"channel":"news","payload":${'{"a":'.repeat(levels - 1)}{}${"}".repeat(levels - 1)}}`;
    expect(decode(frame(MAX_JSON_DEPTH - 1)).kind).toBe("publish");
    expect(decode(frame(MAX_JSON_DEPTH))).toEqual({ kind: "error", code: "invalid_message", message: `frame nests deeper than ${MAX_JSON_DEPTH} levels` });
    expect(decode(`{"channel":"news","payload":{"a":${"[".repeat(40_000)}${"]".repeat(40_000)}}}`)).toMatchObject({ kind: "error", code: "invalid_message" });
    expect(decode(JSON.stringify({ channel: "news", payload: { text: "[{".repeat(40_000) } })).kind).toBe("publish");
  });
});
