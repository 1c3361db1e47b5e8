// One run as an AG-UI event stream (docs/protocol.md section 12): an SSE response that follows a thread
// channel through the gateway like any SSE stream, keeps the events of one run message, writes them as
// AG-UI events, each with the `<epoch>:<seq>` of its run event, and ends after the run's last one.

import type { Principal } from "../../auth/principal.ts";
import type { Publication } from "../../broker/broker.ts";
import type { Wire } from "../../gateway/connection.ts";
import type { Gateway } from "../../gateway/gateway.ts";
import { CloseCode, type AgUiEvent, type RunEventPayload } from "../../protocol/index.ts";
import { SseConnection, type SseWriteBatch } from "../sse/sse-connection.ts";
import { positionEvent } from "../sse/sse-wire.ts";
import { RunToAgUi, type AgUiRunEvent } from "./run-to-ag-ui.ts";

// What the wire hands the connection when a subscription's asked-for position could not be recovered:
// never written, only recognised (a wire is shared by every connection and cannot reach one).
const LOST_POSITION = "\u0000lost position";

export const LOST_RUN_MESSAGE = "the run's events could not be recovered; reload the thread";

/** The AG-UI events of one run event, each with the `<epoch>:<seq>` of the event it came from. */
export function agUiLines(events: AgUiEvent[], position: string): string {
  let text = "";
  for (const event of events) text += `id: ${position}\ndata: ${JSON.stringify(event)}\n\n`;
  return text;
}

export const agUiWire: Wire = {
  // Each connection translates a publication itself: the events depend on what it already wrote.
  publication: () => "",
  // The response must start with bytes, or Bun holds its headers back: a position-only block, which
  // clients do not dispatch.
  subscribed: (_channel, state, _id, outcome) => {
    if (outcome === undefined) return positionEvent(state.epoch, state.seq);
    return outcome.recovered ? positionEvent(state.epoch, state.seq - outcome.replayed) : LOST_POSITION;
  },
  shutdown: () => undefined,
};

const parse = (publication: Publication): RunEventPayload | undefined => {
  try {
    return JSON.parse(publication.payload) as RunEventPayload;
  } catch {
    return undefined;
  }
};

const isRunStart = (event: AgUiRunEvent) => event.type === "status" && event.status === "started";

export class AgUiConnection extends SseConnection {
  override readonly wire = agUiWire;
  private run: RunToAgUi | undefined;
  private messageId: string | undefined;
  // Publications that arrived before the stream knew what to follow (a run subscribes before it starts).
  private held: Publication[] | undefined = [];
  // A resumed stream: the thread's history, from which the followed run's earlier events are re-translated.
  private history: Publication[] | undefined;
  private resuming = false;

  constructor(
    principal: Principal,
    gateway: Gateway,
    batch: SseWriteBatch,
    private readonly threadId: string,
  ) {
    super(principal, gateway, { untilFinal: false, batch });
  }

  /** Streams the run of assistant message `messageId` from its first event. */
  follow(messageId: string): void {
    this.messageId = messageId;
    this.run = new RunToAgUi(this.threadId, messageId);
    this.release();
  }

  /**
   * Streams, after the subscription's position, the run of the first publication after it. `history`,
   * the thread's publications up to there, gives that run's earlier events: translated again and not
   * written, so that the stream goes on exactly where the cut one stopped.
   */
  resume(history: Publication[] | undefined): void {
    this.resuming = true;
    this.history = history;
    this.release();
  }

  override send(text: string): void {
    if (text === LOST_POSITION) return this.lose();
    super.send(text);
  }

  override deliver(publication: Publication): void {
    if (this.held) return void this.held.push(publication);
    if (this.closed || this.run?.finished) return;
    const event = parse(publication);
    if (!event) return;
    if (this.resuming && this.messageId === undefined && !this.pickUp(publication, event)) return;
    // The thread's other runs, before or after this one.
    if (event.message_id !== this.messageId) return;
    this.writeEvents(this.run!.next(event), `${publication.epoch}:${publication.seq}`);
  }

  /** The first publication after a resumed position names the run; false when its start is lost. */
  private pickUp(publication: Publication, event: RunEventPayload): boolean {
    const messageId = event.message_id;
    const earlier = (this.history ?? []).flatMap((candidate) => {
      if (candidate.seq >= publication.seq || candidate.epoch !== publication.epoch) return [];
      const parsed = parse(candidate);
      return parsed?.message_id === messageId ? [parsed] : [];
    });
    this.history = undefined;
    if (!isRunStart(earlier[0] ?? event)) {
      this.lose();
      return false;
    }
    this.messageId = messageId;
    this.run = new RunToAgUi(this.threadId, messageId);
    for (const before of earlier) this.run.next(before);
    return true;
  }

  private release(): void {
    const held = this.held ?? [];
    this.held = undefined;
    for (const publication of held) this.deliver(publication);
  }

  private writeEvents(events: AgUiEvent[], position: string): void {
    super.send(agUiLines(events, position));
    if (this.run?.finished) this.close(CloseCode.normal, "run finished");
  }

  /** The run's events are gone from history: the client must reload the thread. */
  private lose(): void {
    if (this.run?.finished || this.closed) return;
    if (this.run) this.run.finished = true;
    const error: AgUiEvent = { type: "RUN_ERROR", message: LOST_RUN_MESSAGE, code: "lost_position" };
    super.send(`data: ${JSON.stringify(error)}\n\n`);
    this.close(CloseCode.normal, "run lost");
  }
}
