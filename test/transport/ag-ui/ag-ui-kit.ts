// Helpers for AG-UI tests (docs/protocol.md section 12): an HttpAgent that keeps every response body,
// a turn, and the checks every event goes through: its id, the package's schemas and event order.

import { expect } from "bun:test";
import { HttpAgent, verifyEvents, type BaseEvent } from "@ag-ui/client";
import { EventSchemas } from "@ag-ui/core/schemas";
import { firstValueFrom, from, toArray } from "rxjs";
import { textResponse, toolCallResponse, type FakeOpenAI } from "../../helpers/fake-openai.ts";
import { parseSse, type SseEvent } from "../../helpers/sse-client.ts";
import { waitFor } from "../../helpers/wait.ts";

export const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

/** An HttpAgent as an app builds it, with a fetch that keeps a copy of every response body. */
export function agUiAgent(baseUrl: string, token: string, threadId: string) {
  const bodies: Promise<string>[] = [];
  const recordingFetch = async (url: string, init: RequestInit) => {
    const response = await fetch(url, init);
    if (!response.body) return response;
    const [forAgent, forTest] = response.body.tee();
    // Read as it arrives: a copy cut by an abort keeps what came until then.
    bodies.push(
      (async () => {
        let text = "";
        const decoder = new TextDecoder();
        try {
          for await (const chunk of forTest) text += decoder.decode(chunk, { stream: true });
        } catch {}
        return text;
      })(),
    );
    return new Response(forAgent, { status: response.status, headers: response.headers });
  };
  const agent = new HttpAgent({ url: `${baseUrl}/ag-ui`, headers: bearer(token), threadId, fetch: recordingFetch });
  return { agent, bodies };
}

/** Runs one turn; every event the agent's pipeline (which verifies them) hands its subscribers. */
export function runTurn(agent: HttpAgent, text: string) {
  agent.addMessage({ id: crypto.randomUUID(), role: "user", content: text });
  const events: BaseEvent[] = [];
  const done = agent.runAgent({}, { onEvent: ({ event }) => void events.push(event) });
  return { events, done };
}

/** Data events, each checked: an `<epoch>:<seq>` id and a valid AG-UI event. */
export function checkedEvents(items: SseEvent[]): { id: string; event: BaseEvent }[] {
  return items.flatMap((item) => {
    expect(item.id).toMatch(/^[A-Za-z0-9_-]+:\d+$/);
    if (item.data === undefined) return [];
    return [{ id: item.id!, event: EventSchemas.parse(JSON.parse(item.data)) as BaseEvent }];
  });
}

/** The data events of a raw body, each checked as checkedEvents does. */
export const wireEvents = (body: string) => checkedEvents(parseSse(body).filter((item): item is SseEvent => item.kind === "event"));

/** The package's own event-order verification over a list of events; throws on the first violation. */
export const verified = (events: BaseEvent[]) => firstValueFrom(from(events).pipe(verifyEvents(), toArray()));

export const typesOf = (events: BaseEvent[]) => events.map((event) => String(event.type));
export const countOf = (events: BaseEvent[], type: string) => typesOf(events).filter((t) => t === type).length;
export const textOf = (events: BaseEvent[]) =>
  events.flatMap((event) => (String(event.type) === "TEXT_MESSAGE_CONTENT" ? [(event as unknown as { delta: string }).delta] : [])).join("");

export async function storedMessages(baseUrl: string, token: string, threadId: string) {
  const response = await fetch(`${baseUrl}/threads/${threadId}/messages`, { headers: bearer(token) });
  return ((await response.json()) as { messages: { id: string; role: string; status: string; content: string }[] }).messages;
}

/**
 * A turn whose `calculator` call (6*7) waits for approval (the server needs TOOLS_REQUIRE_APPROVAL=
 * calculator), its stream cut by the client at the approval request: the cut stream's events, the
 * request's event (its id is where a resume starts) and the run id (the assistant message id).
 */
export async function turnCutAtApproval(agent: HttpAgent, bodies: Promise<string>[], fake: FakeOpenAI) {
  fake.enqueue(
    toolCallResponse([{ id: "call_mul", name: "calculator", arguments: { expression: "6*7" } }], { text: "Let me compute. " }),
    textResponse("It is 42.", { chunkSize: 2 }),
  );
  const first = runTurn(agent, "What is 6*7?");
  await waitFor(() => first.events.some((event) => String(event.type) === "CUSTOM"), "the approval request");
  agent.abortRun();
  await first.done;
  const cut = wireEvents(await bodies[bodies.length - 1]!);
  const runId = (cut[0]!.event as unknown as { runId: string }).runId;
  return { cut, approval: cut.at(-1)!, runId };
}
