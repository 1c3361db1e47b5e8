// Helpers for agent-run tests: a server wired to the fake model, and collecting a run's events.

import type { AppParts } from "../../src/app.ts";
import { startFakeOpenAI, type FakeOpenAI } from "./fake-openai.ts";
import { startTestServer, type TestServer } from "./server.ts";
import type { Frame, TestClient } from "./ws-client.ts";

export const FAKE_API_KEY = "sk-test-fake-key-0123456789";

export interface AgentHarness {
  server: TestServer;
  fake: FakeOpenAI;
  stop(): Promise<void>;
}

export async function startAgentHarness(env: Record<string, string> = {}, parts: AppParts = {}): Promise<AgentHarness> {
  const fake = await startFakeOpenAI();
  const server = await startTestServer(
    {
      OPENAI_BASE_URL: fake.url,
      OPENAI_API_KEY: FAKE_API_KEY,
      AGENT_MODEL: "fake-model",
      MODEL_RETRY_BASE_MS: "5",
      COALESCE_MS: "5",
      CHECKPOINT_MS: "50",
      SHUTDOWN_GRACE_S: "0",
      ...env,
    },
    parts,
  );
  return {
    server,
    fake,
    async stop() {
      await server.stop();
      await fake.close();
    },
  };
}

/** Waits for the run's final event; returns every event of that message, in seq order. */
export async function collectRun(client: TestClient, messageId: string, timeoutMs = 8000): Promise<Frame[]> {
  const isRunEvent = (frame: Frame) => frame.channel.startsWith("thread:") && frame.payload?.message_id === messageId;
  const final = await client.next((frame) => isRunEvent(frame) && frame.payload.final_message === true, timeoutMs);
  // The final frame was taken by next(); everything before it is queued in arrival order.
  return [...client.drain(isRunEvent), final];
}

/** Sends a chat message and returns the ack payload. */
export async function send(client: TestClient, content: string, extra: Record<string, unknown> = {}) {
  const ack = await client.request("chat", { action: "send", content, ...extra });
  if (ack.channel !== "chat") throw new Error(`send failed: ${JSON.stringify(ack)}`);
  return ack.payload as { status: string; thread_id: string; user_message_id: string; message_id: string; channel: string };
}

/** A compact "type/status" list of events, for asserting sequences. */
export function shape(events: Frame[]): string[] {
  return events.map((event) => `${event.payload.type}/${event.payload.status}`);
}

export function deltas(events: Frame[], type: "response" | "reasoning"): string {
  return events
    .filter((event) => event.payload.type === type && event.payload.status === "in_progress")
    .map((event) => event.payload.message)
    .join("");
}
