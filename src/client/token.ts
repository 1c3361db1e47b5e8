// Where tokens come from (a static one, getToken()), and reading a JWT's `exp` without verifying it,
// only to know when to refresh.

import { AgentwireError, ClientErrorCode } from "./errors.ts";

/** A JWT's payload claims, decoded without verifying the signature (the server verifies); undefined when it is not a JWT. */
export function unverifiedClaims(token: string): Record<string, unknown> | undefined {
  const part = token.split(".")[1];
  if (!part) return undefined;
  try {
    const base64 = part.replace(/-/g, "+").replace(/_/g, "/").padEnd(Math.ceil(part.length / 4) * 4, "=");
    const bytes = Uint8Array.from(atob(base64), (character) => character.charCodeAt(0));
    const claims: unknown = JSON.parse(new TextDecoder().decode(bytes));
    return typeof claims === "object" && claims !== null ? (claims as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

/** The token's `exp` claim (seconds since epoch), or undefined when it has none or is not a JWT. */
export function tokenExpiry(token: string): number | undefined {
  const exp = unverifiedClaims(token)?.exp;
  return typeof exp === "number" && Number.isFinite(exp) ? exp : undefined;
}

/**
 * How long before expiry to refresh a token with `lifetimeMs` left: a fifth of it, between 1 s
 * and 60 s, so a one-hour token is refreshed a minute early and a three-second one a second early.
 */
export function refreshLeadMs(lifetimeMs: number): number {
  return Math.min(60_000, Math.max(1_000, lifetimeMs / 5));
}

export class TokenSource {
  private useStaticNext: boolean;

  constructor(
    private staticToken: string | undefined,
    private readonly getToken: (() => Promise<string>) | undefined,
  ) {
    this.useStaticNext = staticToken !== undefined;
  }

  /** Whether a new token can be had (getToken), so a refused or expiring one is no dead end. */
  get refreshable(): boolean {
    return this.getToken !== undefined;
  }

  /** A token from setToken(): used by the next connection attempt. */
  set(token: string): void {
    this.staticToken = token;
    this.useStaticNext = true;
  }

  /** The token for a connection attempt: a static one once (always, without getToken), else getToken(). */
  async next(): Promise<string> {
    if (this.staticToken !== undefined && (this.useStaticNext || !this.getToken)) {
      if (this.getToken) this.useStaticNext = false;
      return this.staticToken;
    }
    return this.fresh();
  }

  /** A new token from getToken(). */
  async fresh(): Promise<string> {
    if (!this.getToken) throw new AgentwireError(ClientErrorCode.tokenUnavailable, "no token: pass `token` or `getToken`");
    const token = await this.getToken();
    if (typeof token !== "string" || token.length === 0) throw new AgentwireError(ClientErrorCode.tokenUnavailable, "getToken() returned no token");
    return token;
  }

  /** A token for a REST call: `current` while it has 5 s or more to live, else a static or new one. */
  async forRequest(current: string | undefined, serverNowMs: number): Promise<string> {
    if (current !== undefined) {
      const expiry = tokenExpiry(current);
      if (expiry === undefined || expiry * 1000 > serverNowMs + 5_000) return current;
    }
    if (this.getToken) return this.fresh();
    if (this.staticToken !== undefined) return this.staticToken;
    throw new AgentwireError(ClientErrorCode.tokenUnavailable, "no token: pass `token` or `getToken`");
  }
}
