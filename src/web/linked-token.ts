// A token that arrives in a link (`/#token=...`). Anyone can send such a link, so one that would
// switch the page to another account is used only once the user agrees (no login CSRF).

import { unverifiedClaims } from "../client/token.ts";
import { ask } from "./confirm-dialog.ts";

/** The token's `sub`, read without verifying it: only to tell the user whose token it is. */
export function subjectOf(token: string): string | undefined {
  const sub = unverifiedClaims(token)?.sub;
  return typeof sub === "string" && sub !== "" ? sub : undefined;
}

/**
 * May the linked token replace the stored one without asking? Yes when nothing is stored, or when
 * both name the same user (a fresh token for the same account); never when either names no one.
 */
export function replacesSilently(stored: string | null, linked: string): boolean {
  if (stored === null || stored === linked) return true;
  const user = subjectOf(linked);
  return user !== undefined && subjectOf(stored) === user;
}

const nameOf = (user: string | undefined) => (user === undefined ? "an unknown account" : `“${user}”`);

/**
 * Asks in the page's own dialog whether to switch accounts; resolves true only for "Switch account".
 * Escape, or "Keep current account" (focused first), keeps the stored token.
 */
export function confirmSwitch(dialog: HTMLDialogElement, from: string | undefined, to: string | undefined): Promise<boolean> {
  return ask(dialog, {
    title: "Switch account?",
    text:
      `This link signs this page in as ${nameOf(to)}, in place of ${nameOf(from)}. ` +
      "Switch only if you asked for this link: a link from someone else can sign you in to their account.",
    confirm: "Switch account",
    cancel: "Keep current account",
  });
}
