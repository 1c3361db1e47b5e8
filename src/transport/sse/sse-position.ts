// Where an SSE stream starts (docs/protocol.md section 10): `Last-Event-ID: <epoch>:<seq>`, which a
// reconnecting EventSource sends and which wins, or `?since=<seq>&epoch=<epoch>`; `since=0` alone
// means all history of the current epoch. Parsed with bounds and no regex on the client's text.

import { ErrorCode, ProtocolError } from "../../protocol/index.ts";

export interface StreamStart {
  since?: number;
  epoch?: string;
  currentEpoch?: boolean;
  untilFinal: boolean;
}

const MAX_EPOCH_LENGTH = 64;

function seqOf(text: string, what: string): number {
  // Digits only: no sign, exponent, fraction or white space that Number() would accept.
  let digits = text.length > 0 && text.length <= 16;
  for (let index = 0; digits && index < text.length; index++) {
    const code = text.charCodeAt(index);
    digits = code >= 48 && code <= 57;
  }
  const seq = digits ? Number(text) : Number.NaN;
  if (!Number.isSafeInteger(seq)) throw new ProtocolError(ErrorCode.invalidMessage, `${what} must be a sequence number (digits)`, [what]);
  return seq;
}

function epochOf(text: string, what: string): string {
  if (text.length === 0 || text.length > MAX_EPOCH_LENGTH || text.includes(":")) {
    throw new ProtocolError(ErrorCode.invalidMessage, `${what} is not an epoch`, [what]);
  }
  return text;
}

/** An event id `<epoch>:<seq>`, as the SSE-based transports write them; `what` names it in the error. */
export function eventPosition(text: string, what: string): { epoch: string; seq: number } {
  const colon = text.lastIndexOf(":");
  if (colon < 0) throw new ProtocolError(ErrorCode.invalidMessage, `${what} must be <epoch>:<seq>`, [what]);
  return { epoch: epochOf(text.slice(0, colon), what), seq: seqOf(text.slice(colon + 1), what) };
}

export function streamStart(request: Request): StreamStart {
  const query = new URL(request.url).searchParams;
  const until = query.get("until");
  if (until !== null && until !== "final") throw new ProtocolError(ErrorCode.invalidMessage, "until may only be final", ["/until"]);
  const untilFinal = until === "final";
  const lastEventId = request.headers.get("last-event-id");
  if (lastEventId !== null && lastEventId !== "") {
    const { epoch, seq } = eventPosition(lastEventId, "Last-Event-ID");
    return { epoch, since: seq, untilFinal };
  }
  const since = query.get("since");
  const epoch = query.get("epoch");
  if (since === null) {
    if (epoch !== null) throw new ProtocolError(ErrorCode.invalidMessage, "epoch goes with since", ["/since"]);
    return { untilFinal };
  }
  const seq = seqOf(since, "/since");
  if (epoch === null) return seq === 0 ? { since: 0, currentEpoch: true, untilFinal } : { since: seq, untilFinal };
  return { since: seq, epoch: epochOf(epoch, "/epoch"), untilFinal };
}
