// Signing and verifying HS256 tokens with @elysiajs/jwt, plus the claim checks of docs/protocol.md section 3.

import { jwt } from "@elysiajs/jwt";
import { Type } from "@sinclair/typebox";
import { TypeCompiler } from "@sinclair/typebox/compiler";
import { principalOf, type Claims, type Principal } from "./principal.ts";

const ClaimsSchema = Type.Object({
  sub: Type.String({ pattern: "^[A-Za-z0-9_.@-]{1,64}$" }),
  exp: Type.Optional(Type.Number()),
  subscribe: Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: 256 }), { maxItems: 256 })),
  publish: Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: 256 }), { maxItems: 256 })),
});
const claimsCheck = TypeCompiler.Compile(ClaimsSchema);

export interface TokenService {
  /**
   * The principal a token names, or undefined for a bad, expired or malformed token. Answered at once
   * (no promise) for a token verified before or of the common shape; a promise otherwise.
   */
  verify(token: string): Principal | undefined | Promise<Principal | undefined>;
  sign(claims: Omit<Claims, "exp">, ttlSeconds?: number): Promise<string>;
}

export interface TokenServiceOptions {
  /** Verified tokens remembered (default 256); the oldest is forgotten first. */
  maxCached?: number;
  /** Milliseconds since epoch; tests move it. */
  now?: () => number;
}

// A user's tabs and reconnects present the same token again and again: one verified Principal
// serves them all, re-checked for expiry on every use. Kept small: an entry costs about 300 bytes (the
// token and its share of the map), paid per connection when every connection has a token of its own,
// and a token of the common shape is verified again in about a microsecond anyway. At 2,048 entries a
// node of 2,000 connections with tokens of their own held about 300 B more per connection.
const MAX_CACHED_TOKENS = 256;

// The protected headers @elysiajs/jwt and most HS256 issuers write, base64url-encoded:
// {"alg":"HS256","typ":"JWT"} and {"alg":"HS256"}. A token with any other header is left to jose.
const COMMON_HEADERS = new Set(["eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9", "eyJhbGciOiJIUzI1NiJ9"]);
const BASE64URL = /^[A-Za-z0-9_-]+$/;
// An HS256 signature (32 bytes) is 43 base64url characters.
const SIGNATURE_CHARS = 43;

/** Constant-time equality of two strings (a signature and the one expected), without allocating buffers. */
function sameText(a: string, b: string): boolean {
  if (a.length !== b.length) return false;
  let difference = 0;
  for (let index = 0; index < a.length; index++) difference |= a.charCodeAt(index) ^ b.charCodeAt(index);
  return difference === 0;
}

/** True when an optional NumericDate claim is absent or a finite number, as jose requires. */
function numericDate(value: unknown): value is number | undefined {
  return value === undefined || (typeof value === "number" && Number.isFinite(value));
}

export function createTokenService(secret: string, options: TokenServiceOptions = {}): TokenService {
  const maxCached = options.maxCached ?? MAX_CACHED_TOKENS;
  const now = options.now ?? Date.now;
  const secretBytes = new TextEncoder().encode(secret);
  // The key imported once: given the secret's bytes, jose would import a CryptoKey on every verify.
  const signers = crypto.subtle
    .importKey("raw", secretBytes, { name: "HMAC", hash: "SHA-256" }, false, ["sign", "verify"])
    .then((key) => jwt({ name: "jwt", secret: key, alg: "HS256" }).decorator.jwt);
  const verified = new Map<string, Principal>();

  const remember = (token: string, principal: Principal): Principal => {
    if (verified.size >= maxCached) verified.delete(verified.keys().next().value!);
    // A copy of its own: the token is a slice of the request's URL or header, which would stay alive with
    // it (about 250 bytes per connection). Verified tokens are ASCII, so the copy is the same string.
    const key = Buffer.from(token, "latin1").toString("latin1");
    if (key === token) verified.set(key, principal);
    return principal;
  };

  const principalFor = (token: string, payload: unknown): Principal | undefined =>
    claimsCheck.Check(payload) ? remember(token, principalOf(payload)) : undefined;

  /**
   * The common case decided in a few microseconds and without going async, which would defer the
   * socket upgrade: an HS256 token with a usual header, a canonical signature that matches, and
   * NumericDate claims that let it through now. It only ever accepts what jose would accept; for
   * anything else it answers "jose", and @elysiajs/jwt decides, as it does for every token when
   * this path is not taken.
   */
  const verifyCommon = (token: string): Principal | undefined | "jose" => {
    const first = token.indexOf(".");
    const last = token.lastIndexOf(".");
    if (first <= 0 || last === first || token.length - last - 1 !== SIGNATURE_CHARS) return "jose";
    if (!COMMON_HEADERS.has(token.slice(0, first))) return "jose";
    const body = token.slice(first + 1, last);
    const signature = token.slice(last + 1);
    if (!BASE64URL.test(body) || !BASE64URL.test(signature)) return "jose";
    const expected = new Bun.CryptoHasher("sha256", secretBytes).update(token.slice(0, last)).digest("base64url" as "base64");
    if (!sameText(expected, signature)) return "jose";
    let payload: Record<string, unknown>;
    try {
      payload = JSON.parse(Buffer.from(body, "base64url").toString("utf8"));
    } catch {
      return "jose";
    }
    if (typeof payload !== "object" || payload === null || Array.isArray(payload)) return "jose";
    const { iat, nbf, exp } = payload;
    if (!numericDate(iat) || !numericDate(nbf) || !numericDate(exp)) return "jose";
    // jose's rules with no clock tolerance: nbf not after now, exp after now, both in whole seconds.
    const seconds = Math.floor(now() / 1000);
    if ((nbf !== undefined && nbf > seconds) || (exp !== undefined && exp <= seconds)) return "jose";
    return principalFor(token, payload);
  };

  const verifyWithJose = async (token: string): Promise<Principal | undefined> => {
    const payload = await (await signers).verify(token, { algorithms: ["HS256"], currentDate: new Date(now()) });
    return payload ? principalFor(token, payload) : undefined;
  };

  return {
    verify(token) {
      const cached = verified.get(token);
      if (cached) {
        if (cached.exp === undefined || cached.exp * 1000 > now()) return cached;
        verified.delete(token);
        return undefined;
      }
      const common = verifyCommon(token);
      return common === "jose" ? verifyWithJose(token) : common;
    },
    async sign(claims, ttlSeconds) {
      const exp = ttlSeconds === undefined ? undefined : Math.floor(now() / 1000) + ttlSeconds;
      const body: Record<string, unknown> = { ...claims };
      if (exp !== undefined) body.exp = exp;
      return (await signers).sign(body as never);
    },
  };
}

/** The bearer token of an `Authorization` header, if any. */
export function bearerToken(header: string | null | undefined): string | undefined {
  if (!header) return undefined;
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header);
  return match?.[1];
}

/** Parses `30s`, `15m`, `1h`, `7d` or plain seconds. */
export function parseDuration(text: string): number | undefined {
  const match = /^(\d+(?:\.\d+)?)([smhd]?)$/.exec(text.trim());
  if (!match) return undefined;
  const unit = { "": 1, s: 1, m: 60, h: 3600, d: 86_400 }[match[2] as "" | "s" | "m" | "h" | "d"];
  return Math.round(Number(match[1]) * unit);
}
