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
  /** The principal a token names, or undefined for a bad, expired or malformed token. */
  verify(token: string): Promise<Principal | undefined>;
  /** The principal of a token verified before and not expired yet, without going async; else undefined (then use verify). */
  peek(token: string): Principal | undefined;
  sign(claims: Omit<Claims, "exp">, ttlSeconds?: number): Promise<string>;
}

// A user's tabs and reconnects present the same token again and again: one verified Principal
// serves them all (memory is per connection), re-checked for expiry on every use.
const MAX_CACHED_TOKENS = 10_000;

export function createTokenService(secret: string): TokenService {
  const signer = jwt({ name: "jwt", secret, alg: "HS256" }).decorator.jwt;
  const verified = new Map<string, Principal>();
  return {
    async verify(token) {
      const cached = verified.get(token);
      if (cached) {
        if (cached.exp === undefined || cached.exp * 1000 > Date.now()) return cached;
        verified.delete(token);
        return undefined;
      }
      const payload = await signer.verify(token, { algorithms: ["HS256"] });
      if (!payload || !claimsCheck.Check(payload)) return undefined;
      const principal = principalOf(payload);
      if (verified.size >= MAX_CACHED_TOKENS) verified.delete(verified.keys().next().value!);
      verified.set(token, principal);
      return principal;
    },
    peek(token) {
      const cached = verified.get(token);
      return cached && (cached.exp === undefined || cached.exp * 1000 > Date.now()) ? cached : undefined;
    },
    async sign(claims, ttlSeconds) {
      const exp = ttlSeconds === undefined ? undefined : Math.floor(Date.now() / 1000) + ttlSeconds;
      const body: Record<string, unknown> = { ...claims };
      if (exp !== undefined) body.exp = exp;
      return signer.sign(body as never);
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
