// The SDK's presence and shared threads against the real server: subscription.presence(), presence events,
// the agent's state on a RunHandle, and thread members.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { AgentState, PresenceChange } from "../../src/client/index.ts";
import { parseServerFrame, presenceChanges } from "../../src/client/frames.ts";
import { textResponse, toolCallResponse } from "../helpers/fake-openai.ts";
import { startAgentHarness, type AgentHarness } from "../helpers/runs.ts";
import { SdkClients } from "../helpers/sdk-clients.ts";
import { waitFor } from "../helpers/wait.ts";

let harness: AgentHarness;
const clients = new SdkClients();
beforeAll(async () => {
  harness = await startAgentHarness({ TOOLS_REQUIRE_APPROVAL: "calculator" });
});
afterAll(async () => {
  clients.closeAll();
  await harness.stop();
});

describe("presence in the SDK", () => {
  test("presence events for a subscription that asked, a diff spread into its changes, and the query with its cursor", async () => {
    const watcher = await clients.connect(harness.server, "pam");
    const changes: PresenceChange[] = [];
    const subscription = watcher.subscribe("user:pam:room", undefined, { presence: true });
    subscription.on("presence", (change) => changes.push(change));
    await waitFor(() => subscription.state === "subscribed", "the subscription");
    const otherTab = await clients.connect(harness.server, "pam");
    const joined = otherTab.subscribe("user:pam:room");
    await waitFor(() => changes.some((change) => change.action === "join"), "the other tab's join");
    expect(changes[0]).toMatchObject({ action: "join", user: "pam" });
    const page = await subscription.presence({ limit: 1 });
    expect(page.clients).toHaveLength(1);
    const rest = await subscription.presence({ cursor: page.next_cursor });
    expect(rest.next_cursor).toBeUndefined();
    expect([...page.clients, ...rest.clients].map((client) => client.user)).toEqual(["pam", "pam"]);
    expect(await watcher.threads.presence("user:pam:room")).toMatchObject({ status: "presence", clients: expect.any(Array) });
    joined.unsubscribe();
    await waitFor(() => changes.some((change) => change.action === "leave"), "the other tab's leave");
    // A coalesced frame reaches the application as its changes: leaves, then joins, then updates.
    const diff = { action: "diff", joins: [{ user: "a", client: "1" }], leaves: [{ user: "b", client: "2" }], updates: [{ user: "agent", client: "m", state: "tool" }] };
    const frame = parseServerFrame(JSON.stringify({ channel: "c", presence: diff }));
    expect(frame && "presence" in frame ? presenceChanges(frame.presence) : undefined).toEqual([
      { action: "leave", user: "b", client: "2" },
      { action: "join", user: "a", client: "1" },
      { action: "update", user: "agent", client: "m", state: "tool" },
    ]);
  });

  test("a RunHandle follows the agent's state through an approval to the end", async () => {
    const client = await clients.connect(harness.server, "rhea");
    harness.fake.enqueue(toolCallResponse([{ id: "k1", name: "calculator", arguments: { expression: "1+1" } }]));
    harness.fake.enqueue(textResponse("Two."));
    const handle = await client.chat.send("1+1?");
    const states: (AgentState | undefined)[] = [];
    handle.on("agentState", (state) => states.push(state));
    await waitFor(() => handle.agentState === "awaiting_approval", "the agent to wait for approval");
    await handle.approve("k1");
    await handle.done;
    expect(handle.agentState).toBeUndefined();
    expect(states.slice(states.indexOf("awaiting_approval"))).toEqual(["awaiting_approval", "tool", "thinking", "responding", undefined]);
  });

  test("thread members: the owner shares, lists and removes; the member sees the thread with its role", async () => {
    const owner = await clients.connect(harness.server, "oona");
    const member = await clients.connect(harness.server, "mo");
    const thread = await owner.threads.create("Shared");
    expect(await owner.threads.setMember(thread.id, "mo", "viewer")).toMatchObject({ user: "mo", role: "viewer" });
    expect((await owner.threads.members(thread.id)).map((entry) => entry.user)).toEqual(["mo"]);
    expect((await member.threads.list()).find((listed) => listed.id === thread.id)?.role).toBe("viewer");
    const watched = member.subscribe(`thread:${thread.id}`);
    const ended = new Promise<{ reason: string }>((resolve) => watched.on("unsubscribed", resolve));
    await waitFor(() => watched.state === "subscribed", "the member's subscription");
    await owner.threads.removeMember(thread.id, "mo");
    expect(await ended).toEqual({ reason: "forbidden" });
    await expect(member.threads.messages(thread.id)).rejects.toMatchObject({ code: "not_found" });
    await expect(member.threads.members(thread.id)).rejects.toMatchObject({ code: "not_found" });
  });
});
