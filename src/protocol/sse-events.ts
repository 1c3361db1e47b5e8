// What an SSE stream carries besides publications (docs/protocol.md section 10); the SSE transport
// writes it, the SDK and the tests read it.

import { Type, type Static } from "@sinclair/typebox";

/** The data of `event: reset`: the channel's current position, from which the stream goes on live. */
export const SseResetData = Type.Object(
  {
    /** Changes whenever the channel's history was lost. */
    epoch: Type.String(),
    /** The latest seq; the next publication has seq + 1. */
    seq: Type.Integer({ minimum: 0 }),
  },
  { additionalProperties: false },
);
export type SseResetData = Static<typeof SseResetData>;
