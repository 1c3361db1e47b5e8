// Who is on the open thread and what the agent is doing (docs/protocol.md section 14), from the thread's
// subscription with presence: the query on every ack, then the joins, leaves and updates after it.

import { AGENT_USER, type AgentState, type PresenceChange, type PresentClient, type Subscription } from "../client/index.ts";

const AGENT_LABELS: Record<AgentState, string> = {
  thinking: "Agent is thinking…",
  tool: "Agent is calling a tool…",
  responding: "Agent is responding…",
  awaiting_approval: "Agent is waiting for approval",
};
// Pages of the query read at most, and people named at most: a crowd is counted, not listed.
const MAX_PAGES = 5;
const MAX_NAMED = 12;
// Runs remembered as over, so a late presence answer cannot bring their agent back.
const MAX_ENDED = 32;

export interface PresenceElements {
  /** A list of the people watching, one item each. */
  watchers: HTMLUListElement;
  /** A polite live region for the agent's state. */
  agent: HTMLElement;
}

export class ThreadPresence {
  // Present clients by connection id (the agent's by its run's message id).
  private clients = new Map<string, Pick<PresentClient, "user" | "state">>();
  // Changes that arrived while the query was out: applied over its answer, in order.
  private queued: PresenceChange[] | undefined;
  private query = 0;
  private readonly ended = new Set<string>();
  private readonly detachers: (() => void)[];

  constructor(
    readonly subscription: Subscription,
    /** This page's user, shown as "you". */
    private readonly self: string | undefined,
    private readonly elements: PresenceElements,
  ) {
    this.detachers = [
      // Changes are not replayed after a reconnect: every ack asks again.
      subscription.on("subscribed", () => void this.load()),
      subscription.on("presence", (change) => {
        if (this.queued) this.queued.push(change);
        else {
          this.apply(change);
          this.draw();
        }
      }),
    ];
    if (subscription.state === "subscribed") void this.load();
    this.draw();
  }

  /** Stops following; the elements are emptied. */
  close(): void {
    for (const detach of this.detachers.splice(0)) detach();
    this.query++;
    this.clients.clear();
    this.draw();
  }

  /**
   * The run of `messageId` sent its final event: the agent has left it (docs/protocol.md section 14.4),
   * whatever presence still says. A query answered while the agent's join and leave wait to be sent
   * together lists it, and the leave is then netted away with the join, so this is the page's only word
   * that it left.
   */
  runEnded(messageId: string): void {
    this.ended.add(messageId);
    if (this.ended.size > MAX_ENDED) this.ended.delete(this.ended.values().next().value!);
    if (this.clients.get(messageId)?.user === AGENT_USER && this.clients.delete(messageId)) this.draw();
  }

  private async load(): Promise<void> {
    const mine = ++this.query;
    this.queued = [];
    const clients = new Map<string, Pick<PresentClient, "user" | "state">>();
    let answered = false;
    try {
      let cursor: string | undefined;
      for (let page = 0; page < MAX_PAGES && (page === 0 || cursor !== undefined); page++) {
        const answer = await this.subscription.presence({ cursor });
        if (mine !== this.query) return;
        for (const client of answer.clients) {
          if (!this.isOver(client)) clients.set(client.client, { user: client.user, state: client.state });
        }
        cursor = answer.next_cursor;
      }
      answered = true;
    } catch {
      // Without an answer the changes still tell who comes and goes; the next ack asks again.
    }
    if (mine !== this.query) return;
    if (answered) this.clients = clients;
    for (const change of this.queued ?? []) this.apply(change);
    this.queued = undefined;
    this.draw();
  }

  /** One change: a join adds the client (or replaces it with the state given), an update sets the state. */
  private apply(change: PresenceChange): void {
    if (change.action === "leave" || this.isOver(change)) this.clients.delete(change.client);
    else if (change.action === "join") this.clients.set(change.client, { user: change.user, state: change.state });
    else {
      const known = this.clients.get(change.client);
      this.clients.set(change.client, { user: change.user, ...known, state: change.state });
    }
  }

  private isOver({ user, client }: { user: string; client: string }): boolean {
    return user === AGENT_USER && this.ended.has(client);
  }

  private draw(): void {
    const connections = new Map<string, number>();
    let agent: AgentState | undefined;
    for (const { user, state } of this.clients.values()) {
      if (user === AGENT_USER) agent = state ?? agent ?? "thinking";
      else connections.set(user, (connections.get(user) ?? 0) + 1);
    }
    setText(this.elements.agent, agent === undefined ? "" : AGENT_LABELS[agent]);
    if (this.elements.agent.dataset.state !== (agent ?? "")) this.elements.agent.dataset.state = agent ?? "";
    // You first, then by name; a person with several tabs or devices once, with their count.
    const people = [...connections].sort(([a], [b]) => (a === this.self ? -1 : b === this.self ? 1 : a.localeCompare(b)));
    const items = people.slice(0, MAX_NAMED).map(([user, count]) => {
      const item = document.createElement("li");
      const notes = [user === this.self ? "you" : "", count > 1 ? String(count) : ""].filter(Boolean);
      item.textContent = notes.length > 0 ? `${user} (${notes.join(", ")})` : user;
      item.dataset.user = user;
      item.dataset.connections = String(count);
      return item;
    });
    if (people.length > MAX_NAMED) {
      const more = document.createElement("li");
      more.textContent = `and ${people.length - MAX_NAMED} more`;
      items.push(more);
    }
    this.elements.watchers.replaceChildren(...items);
  }
}

function setText(element: HTMLElement, text: string): void {
  if (element.textContent !== text) element.textContent = text;
}
