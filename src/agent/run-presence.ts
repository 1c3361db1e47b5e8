// The agent's presence on the thread of a run (docs/protocol.md section 14): present from the run's start
// to its final event, its state following the events the run publishes.

import type { Presence } from "../broker/presence.ts";
import type { Logger } from "../observability/log.ts";
import { AGENT_USER, agentStateAfter, type AgentState, type RunEventPayload } from "../protocol/index.ts";

/** What a run needs of the presence engine. */
export type PresenceWriter = Pick<Presence, "join" | "leave" | "update">;

export class RunPresence {
  private state: AgentState | undefined;
  private left = false;
  // The engine's writes in the order of the steps, so a slow join is never overtaken by its update.
  private chain: Promise<void> = Promise.resolve();

  constructor(
    private readonly writer: PresenceWriter,
    private readonly channel: string,
    private readonly messageId: string,
    private readonly logger: Logger,
  ) {}

  /** After `event` was published. */
  follow(event: Pick<RunEventPayload, "type" | "status" | "final_message">): void {
    if (this.left) return;
    const next = agentStateAfter(event, this.state);
    if (next === undefined) return this.leave();
    if (next === this.state) return;
    const joining = this.state === undefined;
    this.state = next;
    const { channel, messageId } = this;
    this.enqueue(() =>
      joining ? this.writer.join(channel, { user: AGENT_USER, client: messageId, since: Date.now() / 1000, state: next }) : this.writer.update(channel, messageId, next),
    );
  }

  /** The run is over, however it ended; safe to call twice. */
  leave(): void {
    if (this.left) return;
    this.left = true;
    if (this.state === undefined) return;
    this.enqueue(() => this.writer.leave(this.channel, this.messageId));
  }

  /** Resolves once every write so far is done (or failed and logged). */
  settled(): Promise<void> {
    return this.chain;
  }

  private enqueue(write: () => Promise<void> | void): void {
    this.chain = this.chain.then(write).catch((error) => this.logger.warn("agent presence write failed", { message_id: this.messageId, error }));
  }
}
