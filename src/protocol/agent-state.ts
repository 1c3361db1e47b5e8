// The agent's state on a thread (docs/protocol.md section 14), read from a run's events; free of schema code
// so that the SDK can carry it.

import type { RunEventPayload } from "./run-events.ts";

export const AGENT_STATES = ["thinking", "tool", "responding", "awaiting_approval"] as const;
type AgentState = (typeof AGENT_STATES)[number];

/** The user id the agent is present as. */
export const AGENT_USER = "agent";

/**
 * The agent's state once a run event is out (docs/protocol.md section 14), from the state before it;
 * undefined after the final event, when the agent is no longer present. The server announces it as
 * presence; the SDK reads the same from the events a RunHandle receives.
 */
export function agentStateAfter(event: Pick<RunEventPayload, "type" | "status" | "final_message">, current: AgentState | undefined): AgentState | undefined {
  if (event.final_message) return undefined;
  switch (event.type) {
    case "status":
      return event.status === "responding" ? "responding" : "thinking";
    case "reasoning":
      return "thinking";
    case "response":
      return "responding";
    case "tool":
      if (event.status === "processing") return "tool";
      if (event.status === "awaiting_approval") return "awaiting_approval";
      // The tool's outcome goes back to the model, which thinks again.
      return "thinking";
    default:
      return current;
  }
}
