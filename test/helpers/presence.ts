// Presence in tests: connect and learn the connection id, and follow a channel's presence frames as a
// client would, whether they come one by one or coalesced into diffs.

import { TestClient, type Frame } from "./ws-client.ts";

export async function connectWithId(wsUrl: string, token: string): Promise<{ client: TestClient; id: string }> {
  const client = await TestClient.connect(`${wsUrl}?token=${encodeURIComponent(token)}`);
  const connected = await client.next((frame) => frame.channel === "system" && frame.payload.type === "connected");
  return { client, id: connected.payload.connection_id as string };
}

export const isPresence = (channel: string) => (frame: Frame) => frame.channel === channel && (frame as { presence?: unknown }).presence !== undefined;

type Presence = { action: string; user?: string; client?: string; state?: string; joins?: Present[]; leaves?: Present[]; updates?: Present[] };
type Present = { user: string; client: string; state?: string };

/** A subscriber's view of one channel, rebuilt from its presence frames; `states` lists each client's states in order. */
export class PresenceView {
  readonly present = new Map<string, Present>();
  readonly states = new Map<string, string[]>();
  readonly frames: Frame[] = [];

  constructor(readonly client: TestClient, readonly channel: string) {}

  /** Applies every presence frame of the channel received so far. */
  take(): this {
    for (const frame of this.client.drain(isPresence(this.channel))) this.apply(frame);
    return this;
  }

  apply(frame: Frame): void {
    this.frames.push(frame);
    const presence = (frame as unknown as { presence: Presence }).presence;
    if (presence.action === "diff") {
      for (const left of presence.leaves!) this.present.delete(left.client);
      for (const joined of presence.joins!) this.set(joined);
      for (const updated of presence.updates!) this.set(updated);
    } else if (presence.action === "leave") this.present.delete(presence.client!);
    else this.set(presence as Present);
  }

  private set(client: Present): void {
    this.present.set(client.client, { user: client.user, client: client.client, state: client.state });
    if (client.state !== undefined) {
      const states = this.states.get(client.client) ?? [];
      if (states.at(-1) !== client.state) states.push(client.state);
      this.states.set(client.client, states);
    }
  }
}
