// Who is on the other end of a connection or request, and what the token lets them do.

import { isReservedChannel, isUserNamespace, threadIdOf, type ThreadRole } from "../protocol/index.ts";
import { compileGlob, matchesAny, type Glob } from "./glob.ts";

export interface Claims {
  sub: string;
  exp?: number;
  subscribe?: string[];
  publish?: string[];
}

export interface Principal {
  sub: string;
  /** Expiry in seconds since epoch, when the token has one. */
  exp?: number;
  subscribeGlobs: readonly Glob[];
  publishGlobs: readonly Glob[];
}

// Most tokens grant nothing beyond the user's own namespace: one empty list serves them all (memory is per connection).
const NO_GLOBS: readonly Glob[] = Object.freeze([]);

const globsOf = (patterns: string[] | undefined): readonly Glob[] => (patterns && patterns.length > 0 ? patterns.map(compileGlob) : NO_GLOBS);

export function principalOf(claims: Claims): Principal {
  return { sub: claims.sub, exp: claims.exp, subscribeGlobs: globsOf(claims.subscribe), publishGlobs: globsOf(claims.publish) };
}

/** A user's role on a thread (owner, or member of a shared thread); undefined when none or no such thread. */
export type ThreadAccessLookup = (threadId: string, userId: string) => Promise<ThreadRole | undefined>;

/**
 * May this principal subscribe to the channel? Own namespace and granted globs always; a thread
 * channel when the principal owns the thread or it is shared with them (docs/protocol.md section 14).
 * Reserved channels never.
 */
export async function canSubscribe(principal: Principal, channel: string, threadAccess: ThreadAccessLookup): Promise<boolean> {
  if (isReservedChannel(channel)) return false;
  if (isUserNamespace(channel, principal.sub)) return true;
  if (matchesAny(principal.subscribeGlobs, channel)) return true;
  const threadId = threadIdOf(channel);
  if (threadId === undefined || threadId.length === 0) return false;
  return (await threadAccess(threadId, principal.sub)) !== undefined;
}

/** Whether the subscribe decision depends only on the token (no storage lookup needed). */
export function canSubscribeByClaims(principal: Principal, channel: string): boolean {
  return !isReservedChannel(channel) && (isUserNamespace(channel, principal.sub) || matchesAny(principal.subscribeGlobs, channel));
}

/** May this principal publish? Never on reserved or thread channels: those carry only the server's own events. */
export function canPublish(principal: Principal, channel: string): boolean {
  if (isReservedChannel(channel) || threadIdOf(channel) !== undefined) return false;
  return isUserNamespace(channel, principal.sub) || matchesAny(principal.publishGlobs, channel);
}
