// The server-wide request body cap (docs/protocol.md section 7.2): a Content-Length over it is refused before routing.

import { Elysia } from "elysia";
import { httpError } from "./errors.ts";
import { bodyTooLarge, declaredLength } from "./json-body.ts";

/**
 * Answers 413 `too_large` to any request whose Content-Length passes `maxBytes`, without reading a byte
 * of the body and before authentication (the cap is the same for everyone). A chunked body has no
 * length: `readJsonBody` cuts it at its limit, and no other route reads a body.
 */
export function bodyLimit(maxBytes: number) {
  return new Elysia({ name: "body-limit" })
    .onRequest(({ request }) => {
      const length = declaredLength(request);
      if (length !== undefined && length > maxBytes) return httpError(bodyTooLarge(maxBytes));
    })
    .as("global");
}
