import { describe, expect, test } from "bun:test";
import { queryToken } from "../../../src/transport/websocket/ws-route.ts";

describe("queryToken", () => {
  test("reads the token parameter exactly as URLSearchParams does", () => {
    const urls = [
      "http://h/ws",
      "http://h/ws?",
      "http://h/ws?token=abc.DEF-ghi_123",
      "http://h/ws?a=1&token=first&token=second",
      "http://h/ws?token",
      "http://h/ws?token=",
      "http://h/ws?tokens=x&token=y",
      "http://h/ws?xtoken=x",
      "http://h/ws?&&token=z&",
      "http://h/ws?token=a%2Eb",
      "http://h/ws?token=a+b",
      "http://h/ws?t%6Fken=encoded-name",
      "http://h/ws?token=a=b",
      "http://h/ws?token=%E2%82%AC",
    ];
    for (const url of urls) expect([url, queryToken(url)]).toEqual([url, new URL(url).searchParams.get("token") ?? undefined]);
  });
});
