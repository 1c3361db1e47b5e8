// Reading a token's expiry without verifying it, and when to refresh it.

import { describe, expect, test } from "bun:test";
import { tokenExpiry } from "../../src/client/index.ts";
import { refreshLeadMs } from "../../src/client/token.ts";

describe("tokens", () => {
  test("exp is read without verifying; anything else has none", () => {
    const payload = Buffer.from(JSON.stringify({ sub: "ünïcode", exp: 1_900_000_000 })).toString("base64url");
    expect(tokenExpiry(`header.${payload}.signature`)).toBe(1_900_000_000);
    expect(tokenExpiry(`header.${Buffer.from("{}").toString("base64url")}.sig`)).toBeUndefined();
    expect(tokenExpiry("not-a-jwt")).toBeUndefined();
    expect(tokenExpiry("a.%%%.c")).toBeUndefined();
  });

  test("refresh lead: a fifth of the lifetime, between 1 s and 60 s", () => {
    expect(refreshLeadMs(3_000)).toBe(1_000);
    expect(refreshLeadMs(100_000)).toBe(20_000);
    expect(refreshLeadMs(3_600_000)).toBe(60_000);
  });
});
