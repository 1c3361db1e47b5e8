// One run as a UI message stream (docs/protocol.md section 11): an SSE response that follows a thread
// channel through the gateway like any SSE stream, keeps the events of one run message, writes them as
// the AI SDK's chunks, and ends after `[DONE]`.

import type { Principal } from "../../auth/principal.ts";
import type { Publication } from "../../broker/broker.ts";
import type { Wire } from "../../gateway/connection.ts";
import type { Gateway } from "../../gateway/gateway.ts";
import { CloseCode, UI_MESSAGE_STREAM_DONE, type RunEventPayload, type UiMessageChunk } from "../../protocol/index.ts";
import { SseConnection, type SseWriteBatch } from "../sse/sse-connection.ts";
import { positionEvent } from "../sse/sse-wire.ts";
import { RunChunks, type RunEvent } from "./run-chunks.ts";

// What the wire hands the connection when a subscription's asked-for position could not be recovered:
// never written, only recognised (a wire is shared by every connection and cannot reach one).
const LOST_POSITION = "\u0000lost position";

/** The chunks of one event, each with the `<epoch>:<seq>` of the event it came from. */
export function chunkLines(chunks: UiMessageChunk[], position: string): string {
  let text = "";
  for (const chunk of chunks) text += `id: ${position}\ndata: ${JSON.stringify(chunk)}\n\n`;
  return text;
}

export const uiMessageWire: Wire = {
  // Each connection translates a publication itself: the chunks depend on what it already wrote.
  publication: () => "",
  // The response must start with bytes, or Bun holds its headers back: a position-only block, which
  // clients do not dispatch.
  subscribed: (_channel, state, _id, outcome) => {
    if (outcome === undefined) return positionEvent(state.epoch, state.seq);
    return outcome.recovered ? positionEvent(state.epoch, state.seq - outcome.replayed) : LOST_POSITION;
  },
  shutdown: () => undefined,
};

export class UiStreamConnection extends SseConnection {
  override readonly wire = uiMessageWire;
  private chunks: RunChunks | undefined;
  private messageId: string | undefined;
  // Publications that arrived before the run's message id was known (a send subscribes before it starts the run).
  private held: Publication[] | undefined = [];
  private catchingUp = false;
  private position = "";

  constructor(principal: Principal, gateway: Gateway, batch: SseWriteBatch) {
    super(principal, gateway, { untilFinal: false, batch });
  }

  /**
   * Streams the run of assistant message `messageId` from here on. `stored`, for a run picked up in
   * the middle, is what the stored message holds, at `position`; the events after it follow (call
   * `caughtUp` once they have). `shown`: the tool calls the reader already has, for a stream that
   * continues the reader's message after an approval.
   */
  follow(messageId: string, from: { stored?: { events: RunEvent[]; position: string }; shown?: Iterable<string> } = {}): void {
    this.messageId = messageId;
    this.chunks = new RunChunks(messageId, from.shown);
    // A stored approval request may already be answered by the events that follow it.
    this.catchingUp = from.stored !== undefined;
    if (from.stored) for (const event of from.stored.events) this.writeEvent(event, from.stored.position);
    const held = this.held ?? [];
    this.held = undefined;
    for (const publication of held) this.deliver(publication);
  }

  /** The events after the stored position were delivered: the stream is where the run is. */
  caughtUp(): void {
    this.catchingUp = false;
    this.pauseAtApproval();
  }

  override send(text: string): void {
    if (text === LOST_POSITION) return this.lose();
    super.send(text);
  }

  override deliver(publication: Publication): void {
    if (this.held) return void this.held.push(publication);
    if (this.closed || this.chunks?.finished) return;
    let event: RunEventPayload;
    try {
      event = JSON.parse(publication.payload) as RunEventPayload;
    } catch {
      return;
    }
    // The thread's other runs, before or after this one.
    if (event.message_id !== this.messageId) return;
    this.writeEvent(event, `${publication.epoch}:${publication.seq}`);
  }

  private writeEvent(event: RunEvent, position: string): void {
    const chunks = this.chunks!;
    this.position = position;
    super.send(chunkLines(chunks.next(event), position));
    if (chunks.finished) this.endRun();
    else this.pauseAtApproval();
  }

  /** A run waiting for the reader's approval ends this stream; the answer's request continues it (section 11.4). */
  private pauseAtApproval(): void {
    const chunks = this.chunks;
    if (this.closed || this.catchingUp || !chunks?.waitingForApproval) return;
    super.send(chunkLines(chunks.pause(), this.position));
    this.endRun();
  }

  /** The events after the stored position are gone from history: the client must reload the thread. */
  private lose(): void {
    if (this.chunks?.finished) return;
    const errorText = "the run's events could not be recovered; reload the thread";
    super.send(`data: ${JSON.stringify({ type: "error", errorText } satisfies UiMessageChunk)}\n\n`);
    this.endRun();
  }

  private endRun(): void {
    if (this.chunks) this.chunks.finished = true;
    super.send(`data: ${UI_MESSAGE_STREAM_DONE}\n\n`);
    this.close(CloseCode.normal, "run finished");
  }
}
