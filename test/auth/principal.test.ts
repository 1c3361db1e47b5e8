// Glob claims and the permission rules of docs/protocol.md section 3.

import { describe, expect, test } from "bun:test";
import { compileGlob } from "../../src/auth/glob.ts";
import { canPublish, canSubscribe, principalOf } from "../../src/auth/principal.ts";

describe("globs", () => {
  test("* matches any run, empty and ':' included; everything else is literal", () => {
    const glob = compileGlob("news:*");
    expect(glob.test("news:")).toBe(true);
    expect(glob.test("news:a:b:c")).toBe(true);
    expect(glob.test("newsX")).toBe(false);
    expect(compileGlob("a.b").test("axb")).toBe(false);
    expect(compileGlob("*:end").test("x:y:end")).toBe(true);
    expect(compileGlob("exact").test("exact2")).toBe(false);
  });
});

describe("permissions", () => {
  const noThreads = async () => undefined;
  test("own namespace, globs, thread ownership; never reserved; never publishing on threads", async () => {
    const alice = principalOf({ sub: "alice", subscribe: ["*"], publish: ["*"] });
    expect(await canSubscribe(alice, "user:bob", noThreads)).toBe(true);
    expect(await canSubscribe(alice, "system", noThreads)).toBe(false);
    expect(canPublish(alice, "thread:1")).toBe(false);
    expect(canPublish(alice, "chat")).toBe(false);
    const plain = principalOf({ sub: "alice" });
    expect(await canSubscribe(plain, "user:alice:x", noThreads)).toBe(true);
    expect(await canSubscribe(plain, "user:alicex", noThreads)).toBe(false);
    expect(await canSubscribe(plain, "thread:t1", async (id, user) => (id === "t1" && user === "alice" ? "owner" : undefined))).toBe(true);
    expect(await canSubscribe(plain, "thread:t1", async (id, user) => (user === "alice" ? "viewer" : undefined))).toBe(true);
    expect(await canSubscribe(plain, "thread:t1", async () => undefined)).toBe(false);
    expect(canPublish(plain, "user:alice:out")).toBe(true);
    expect(canPublish(plain, "user:bob")).toBe(false);
  });
});
