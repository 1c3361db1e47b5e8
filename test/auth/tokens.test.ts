// Token verification: the verified-token cache (bounded, expiry re-checked) and the synchronous HS256
// path, which must accept exactly what @elysiajs/jwt (jose) accepts.

import { describe, expect, test } from "bun:test";
import { jwt } from "@elysiajs/jwt";
import fc from "fast-check";
import { createTokenService } from "../../src/auth/tokens.ts";

const SECRET = "tokens-test-secret-0123456789";
const START = Date.UTC(2026, 0, 1);

/** A token service whose clock the test moves. */
function clockedService(maxCached?: number) {
  const clock = { now: START };
  return { clock, tokens: createTokenService(SECRET, { maxCached, now: () => clock.now }) };
}

const base64url = (text: string) => Buffer.from(text).toString("base64url");

/** An HS256 token with any header and payload text, signed with `secret`, as another issuer might write it. */
function handSigned(header: object, payload: string, secret = SECRET): string {
  const signed = `${base64url(JSON.stringify(header))}.${base64url(payload)}`;
  return `${signed}.${new Bun.CryptoHasher("sha256", secret).update(signed).digest("base64url" as "base64")}`;
}

describe("verified tokens are remembered", () => {
  test("the same token string is answered from the cache, at once, with the same principal", async () => {
    const { tokens } = clockedService();
    const token = await tokens.sign({ sub: "ada" }, 60);
    const first = tokens.verify(token);
    if (first instanceof Promise) throw new Error("a token of the common shape was not verified at once");
    expect(first?.sub).toBe("ada");
    expect(tokens.verify(token)).toBe(first!);
  });

  test("a cached token is refused once it has expired, and stays refused", async () => {
    const { clock, tokens } = clockedService();
    const token = await tokens.sign({ sub: "ada" }, 60);
    expect((await tokens.verify(token))?.sub).toBe("ada");
    clock.now += 60_000;
    expect(await tokens.verify(token)).toBeUndefined();
    expect(await tokens.verify(token)).toBeUndefined();
  });

  test("the cache is bounded: past its size the oldest token is verified again", async () => {
    const { tokens } = clockedService(2);
    const [a, b, c] = await Promise.all(["a", "b", "c"].map((sub) => tokens.sign({ sub }, 60)));
    const principalA = await tokens.verify(a!);
    const principalB = await tokens.verify(b!);
    const principalC = await tokens.verify(c!);
    // c pushed a out; b and c are still remembered.
    expect(await tokens.verify(c!)).toBe(principalC!);
    expect(await tokens.verify(b!)).toBe(principalB!);
    const again = await tokens.verify(a!);
    expect(again?.sub).toBe("a");
    expect(again).not.toBe(principalA!);
  });
});

describe("the synchronous path agrees with jose", () => {
  test("refused: another secret, a changed payload, alg none, nbf ahead, a bad claim", async () => {
    const { tokens } = clockedService();
    const seconds = START / 1000;
    const good = handSigned({ alg: "HS256", typ: "JWT" }, JSON.stringify({ sub: "ada", exp: seconds + 60 }));
    expect((await tokens.verify(good))?.sub).toBe("ada");
    const [header, , signature] = good.split(".");
    const refused = [
      handSigned({ alg: "HS256" }, JSON.stringify({ sub: "ada" }), "another-secret-0123456789"),
      `${header}.${base64url(JSON.stringify({ sub: "eve" }))}.${signature}`,
      `${base64url(JSON.stringify({ alg: "none" }))}.${base64url(JSON.stringify({ sub: "ada" }))}.`,
      handSigned({ alg: "HS256" }, JSON.stringify({ sub: "ada", nbf: seconds + 10 })),
      handSigned({ alg: "HS256" }, JSON.stringify({ sub: "ada", exp: "never" })),
      handSigned({ alg: "HS256" }, JSON.stringify({ sub: "not a valid sub!" })),
      handSigned({ alg: "HS256" }, "[1,2]"),
    ];
    for (const token of refused) expect(await tokens.verify(token)).toBeUndefined();
  });

  test("for any timing claims, the verdict is jose's", async () => {
    const seconds = START / 1000;
    const reference = jwt({ name: "jwt", secret: SECRET }).decorator.jwt;
    const joseAccepts = async (token: string) => (await reference.verify(token, { algorithms: ["HS256"], currentDate: new Date(START) })) !== false;
    const claim = fc.oneof(
      fc.constant(undefined),
      fc.integer({ min: seconds - 3, max: seconds + 3 }),
      fc.double({ min: seconds - 3, max: seconds + 3, noNaN: true }),
      fc.constantFrom("soon", null, true),
    );
    const headers = fc.constantFrom<object>({ alg: "HS256" }, { alg: "HS256", typ: "JWT" }, { alg: "HS256", typ: "JWT", kid: "k1" });
    await fc.assert(
      fc.asyncProperty(headers, claim, claim, claim, async (header, iat, nbf, exp) => {
        const { tokens } = clockedService();
        const token = handSigned(header, JSON.stringify({ sub: "ada", iat, nbf, exp }));
        const ours = (await tokens.verify(token)) !== undefined;
        // Our claim schema asks more of exp (a number) than jose; jose's verdict binds where it refuses.
        expect(ours).toBe((await joseAccepts(token)) && (exp === undefined || typeof exp === "number"));
      }),
      { numRuns: 200 },
    );
  });

  test("signing through @elysiajs/jwt and verifying give the claims back", async () => {
    const { tokens } = clockedService();
    const token = await tokens.sign({ sub: "ada", subscribe: ["room:*"], publish: ["room:1"] }, 60);
    const principal = await tokens.verify(token);
    expect(principal?.subscribeGlobs.map((glob) => glob.pattern)).toEqual(["room:*"]);
    expect(principal?.publishGlobs.map((glob) => glob.pattern)).toEqual(["room:1"]);
  });
});
