// The translation of run events into UI message chunks (docs/protocol.md section 11), judged by the
// `ai` package itself: its chunk schema (through DefaultChatTransport's parser) and readUIMessageStream.

import { describe, expect, test } from "bun:test";
import { Value } from "@sinclair/typebox/value";
import { DefaultChatTransport, type UIMessage, type UIMessageChunk } from "ai";
import { UiMessageChunk, type SourceView, type StoredToolCall, type ToolCallView } from "../../../src/protocol/index.ts";
import { RunChunks, storedRunEvents, type RunEvent } from "../../../src/transport/ai-sdk/run-chunks.ts";
import { chunkLines } from "../../../src/transport/ai-sdk/ui-stream-connection.ts";
import { follow, sourcesOf, textOf, toolCallsOf, typesOf } from "./ai-sdk-kit.ts";

// Every chunk agentwire declares is one the `ai` package's own type accepts.
const _sameShape = (chunk: UiMessageChunk): UIMessageChunk => chunk;
void _sameShape;

/** DefaultChatTransport's own parsing of a response body: SSE, then the official chunk schema. */
class ParsingTransport extends DefaultChatTransport<UIMessage> {
  parse(text: string): ReadableStream<UIMessageChunk> {
    return this.processResponseStream(new Response(text).body!);
  }
}

const event = (type: RunEvent["type"], status: RunEvent["status"], extra: Partial<RunEvent> = {}): RunEvent => ({
  type,
  status,
  message: "",
  final_message: false,
  ...extra,
});
const tool = (status: RunEvent["status"], view: ToolCallView) => event("tool", status, { tool: view });
const text = (delta: string) => event("response", "in_progress", { message: delta });
const completed = (message = "") => event("response", "completed", { message, final_message: true });

/** The events' chunks as written on the wire, read back by the AI SDK, and the message it rebuilds. */
async function rebuild(events: RunEvent[]) {
  const translator = new RunChunks("M1");
  const chunks = events.flatMap((item) => translator.next(item));
  for (const chunk of chunks) expect([...Value.Errors(UiMessageChunk, chunk)].map((error) => error.message)).toEqual([]);
  const wire = chunkLines(chunks, "E:1") + "data: [DONE]\n\n";
  const stream = follow(new ParsingTransport().parse(wire));
  await stream.ended;
  expect(stream.chunks).toEqual(JSON.parse(JSON.stringify(chunks)));
  return { chunks, message: stream.message!, errors: stream.errors };
}

const calculator: ToolCallView = { call_id: "c1", name: "calculator", arguments: { expression: "6*7" } };

describe("RunChunks", () => {
  test("an approved call: the request, the response, then the output", async () => {
    const { chunks, message, errors } = await rebuild([
      event("status", "started"),
      tool("awaiting_approval", calculator),
      tool("processing", calculator),
      tool("done", { ...calculator, result: "42" }),
      event("status", "responding"),
      text("It is 42."),
      completed("It is 42."),
    ]);
    expect(errors).toEqual([]);
    expect(typesOf(chunks)).toEqual([
      "start",
      "start-step",
      "tool-input-available",
      "tool-approval-request",
      "tool-approval-response",
      "tool-output-available",
      "finish-step",
      "start-step",
      "text-start",
      "text-delta",
      "text-end",
      "finish-step",
      "finish",
    ]);
    expect(message.id).toBe("M1");
    expect(message.parts[1]).toMatchObject({ type: "tool-calculator", state: "output-available", output: "42", approval: { id: "c1", approved: true } });
  });

  test("a rejected call is denied, with the reason on the approval", async () => {
    const { chunks, message } = await rebuild([
      event("status", "started"),
      tool("awaiting_approval", calculator),
      tool("rejected", { ...calculator, error: "not now" }),
      completed(),
    ]);
    expect(chunks).toContainEqual({ type: "tool-approval-response", approvalId: "c1", approved: false, reason: "not now" });
    expect(message.parts[1]).toMatchObject({ type: "tool-calculator", state: "output-denied", approval: { id: "c1", approved: false, reason: "not now" } });
  });

  test("waiting for approval: pause ends the step and the message with finish tool-calls; nothing follows", () => {
    const translator = new RunChunks("M1");
    translator.next(event("status", "started"));
    translator.next(text("Let me compute. "));
    expect(translator.waitingForApproval).toBe(false);
    translator.next(tool("awaiting_approval", calculator));
    expect(translator.waitingForApproval).toBe(true);
    expect(translator.pause()).toEqual([{ type: "finish-step" }, { type: "finish", finishReason: "tool-calls" }]);
    expect(translator.waitingForApproval).toBe(false);
    expect(translator.next(tool("processing", calculator))).toEqual([]);
  });

  test("continuing a message after an approval: calls the reader has are not announced again", () => {
    const translator = new RunChunks("M1", ["c1"]);
    const chunks = [tool("processing", calculator), tool("done", { ...calculator, result: "42" }), text("It is 42."), completed()].flatMap((item) => translator.next(item));
    expect(typesOf(chunks)).toEqual([
      "start",
      "start-step",
      "tool-output-available",
      "finish-step",
      "start-step",
      "text-start",
      "text-delta",
      "text-end",
      "finish-step",
      "finish",
    ]);
  });

  test("a failed call with arguments that were not JSON keeps the raw text as its input", async () => {
    const raw: ToolCallView = { call_id: "c2", name: "calculator", arguments: "{not json" };
    const { message } = await rebuild([event("status", "started"), tool("processing", raw), tool("failed", { ...raw, error: "invalid arguments" }), completed()]);
    expect(message.parts[1]).toMatchObject({ type: "tool-calculator", state: "output-error", input: "{not json", errorText: "invalid arguments" });
  });

  test("sources: a URL is a source-url, anything else a plain-text source-document; snippets ride in providerMetadata", async () => {
    const sources: SourceView[] = [
      { id: "s1", title: "Docs", url: "https://example.com/docs", snippet: "the relevant line" },
      { id: "s2", title: "A stored message" },
    ];
    const { chunks, message } = await rebuild([event("status", "started"), event("sources", "in_progress", { sources }), completed()]);
    expect(chunks).toContainEqual({ type: "source-url", sourceId: "s1", url: "https://example.com/docs", title: "Docs", providerMetadata: { agentwire: { snippet: "the relevant line" } } });
    expect(chunks).toContainEqual({ type: "source-document", sourceId: "s2", mediaType: "text/plain", title: "A stored message" });
    expect(sourcesOf(message)).toEqual(sources);
  });

  test("reasoning then text, each one part with its deltas joined", async () => {
    const { message } = await rebuild([
      event("status", "started"),
      event("reasoning", "in_progress", { message: "Think" }),
      event("reasoning", "in_progress", { message: "ing." }),
      text("An"),
      text("swer."),
      completed("Answer."),
    ]);
    expect(message.parts.map((part) => part.type)).toEqual(["step-start", "reasoning", "text"]);
    expect(textOf(message, "reasoning")).toBe("Thinking.");
    expect(textOf(message)).toBe("Answer.");
  });

  test("an error mid-answer closes the open part and ends with an error chunk; nothing follows the final event", async () => {
    const translator = new RunChunks("M1");
    const chunks = [event("status", "started"), text("Half"), event("error", "error", { message: "the model failed", final_message: true }), text("late")].flatMap((item) =>
      translator.next(item),
    );
    expect(typesOf(chunks)).toEqual(["start", "start-step", "text-start", "text-delta", "text-end", "finish-step", "error"]);
    expect(chunks.at(-1)).toEqual({ type: "error", errorText: "the model failed" });
    expect(translator.finished).toBe(true);
  });

  test("a stopped run ends with an abort chunk", async () => {
    const { chunks } = await rebuild([event("status", "started"), text("Partial"), event("response", "cancelled", { message: "Partial", final_message: true })]);
    expect(chunks.at(-1)).toEqual({ type: "abort", reason: "stopped" });
  });
});

describe("storedRunEvents", () => {
  test("rebuilds what a stored unfinished message holds, each tool call in its stored state, and the run goes on from there", async () => {
    const toolCalls: StoredToolCall[] = [
      { call_id: "a", name: "calculator", arguments: { expression: "1+1" }, result: "2", status: "done" },
      { call_id: "b", name: "calculator", arguments: { expression: "1/0" }, error: "division by zero", status: "failed" },
      { call_id: "c", name: "current_time", arguments: {}, error: "not now", status: "rejected" },
      { call_id: "d", name: "calculator", arguments: { expression: "2*3" }, status: "awaiting_approval" },
    ];
    const sources: SourceView[] = [{ id: "m1", title: "Earlier", snippet: "a zebra" }];
    const stored = { content: "So far", reasoning: "Thinking", toolCalls, sources };
    const d = toolCalls[3]!;
    const { message, errors } = await rebuild([
      ...storedRunEvents(stored),
      // What happens after the stored position: the waiting call is approved and runs, the text goes on.
      tool("processing", d),
      tool("done", { ...d, result: "6" }),
      text(" and more."),
      completed("So far and more."),
    ]);
    expect(errors).toEqual([]);
    expect(textOf(message, "reasoning")).toBe("Thinking");
    expect(textOf(message)).toBe("So far and more.");
    expect(toolCallsOf(message)).toEqual([
      toolCalls[0]!,
      toolCalls[1]!,
      { ...toolCalls[2]!, error: undefined },
      { ...d, result: "6", status: "done" },
    ]);
    expect(sourcesOf(message)).toEqual(sources);
  });

  test("a message with nothing stored yet is only the run's start", () => {
    const translator = new RunChunks("M1");
    const chunks = storedRunEvents({ content: "", reasoning: null, toolCalls: null, sources: null }).flatMap((item) => translator.next(item));
    expect(chunks).toEqual([{ type: "start", messageId: "M1" }, { type: "start-step" }]);
    // The run's own started event, replayed after it, adds nothing.
    expect(translator.next(event("status", "started"))).toEqual([]);
  });
});
