// Tools from MCP servers, end to end with real servers started from an MCP_CONFIG file: the third-party
// server-everything over stdio, a Streamable HTTP server written here with the SDK's McpServer, and a
// stdio server that crashes, hangs or answers 50 MiB; plus one whose command does not exist.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { z } from "zod";
import { textResponse, toolCallResponse, type FakeToolCall, type RecordedRequest } from "../../helpers/fake-openai.ts";
import { startNotesServer, type NotesServer } from "../../helpers/mcp/notes-server.ts";
import { ROOT } from "../../helpers/process.ts";
import { collectRun, send, shape, startAgentHarness, type AgentHarness } from "../../helpers/runs.ts";
import { waitFor } from "../../helpers/wait.ts";
import { connectAs, type Frame, type TestClient } from "../../helpers/ws-client.ts";

const EVERYTHING = join(ROOT, "node_modules/@modelcontextprotocol/server-everything/dist/index.js");
const FAULT_SERVER = join(ROOT, "test/helpers/mcp/fault-server.ts");
const TAP = join(ROOT, "test/helpers/mcp/tap.ts");
const TOOL_MAX_CHARS = 20_000;

let harness: AgentHarness;
let notes: NotesServer;
let alice: TestClient;
let directory: string;
let tap: string;

beforeAll(async () => {
  directory = mkdtempSync(join(tmpdir(), "agentwire-mcp-"));
  tap = join(directory, "everything-input.jsonl");
  notes = await startNotesServer();
  const config = join(directory, "mcp.json");
  writeFileSync(
    config,
    JSON.stringify({
      mcpServers: {
        // The tap keeps a copy of what the server reads, so the test can see the cancellation reach it.
        everything: { command: "bun", args: [TAP, tap, "bun", EVERYTHING, "stdio"] },
        faults: { command: "bun", args: [FAULT_SERVER] },
        missing: { command: "agentwire-test-no-such-command" },
        notes: { url: notes.url, headers: { authorization: "Bearer notes-secret" } },
      },
    }),
  );
  harness = await startAgentHarness({
    MCP_CONFIG: config,
    MCP_TOOL_TIMEOUT_S: "3",
    MCP_RESTART_BASE_MS: "50",
    TOOL_MAX_CHARS: String(TOOL_MAX_CHARS),
    TOOLS_REQUIRE_APPROVAL: "notes__list_*",
    TOOLS_AUTO_APPROVE: "notes__wipe_*",
  });
  alice = await connectAs(harness.server.wsUrl, await harness.server.token({ sub: "alice" }));
});

afterAll(async () => {
  alice?.close();
  await harness?.stop();
  await notes?.close();
  rmSync(directory, { recursive: true, force: true });
});

/** The model's answer after the tools: every tool message it was sent, joined. */
const answerWithToolResults = (request: RecordedRequest) =>
  textResponse(
    "Tools said: " +
      request.body.messages
        .filter((message) => message.role === "tool")
        .map((message) => String(message.content).slice(0, 200))
        .join(" | "),
  );

/** One run in which the model calls `calls`, then answers with what the tools returned. */
async function runCalling(calls: FakeToolCall[]): Promise<Frame[]> {
  harness.fake.enqueue(toolCallResponse(calls), answerWithToolResults);
  const ack = await send(alice, `call ${calls.map((call) => call.name).join(", ")}`);
  return collectRun(alice, ack.message_id, 20_000);
}

const toolEvents = (events: Frame[], status: string) => events.filter((event) => event.payload.type === "tool" && event.payload.status === status);
const finals = (events: Frame[]) => events.filter((event) => event.payload.final_message === true);

async function getJson(path: string, authorized = true): Promise<{ status: number; body: any }> {
  const headers: Record<string, string> = authorized ? { authorization: `Bearer ${await harness.server.token({ sub: "alice" })}` } : {};
  const response = await fetch(`${harness.server.httpUrl}${path}`, { headers });
  return { status: response.status, body: response.headers.get("content-type")?.includes("json") ? await response.json() : await response.text() };
}

describe("listing", () => {
  test("GET /tools lists every tool with its source and approval rule; /metrics shows each server's state", async () => {
    expect((await getJson("/tools", false)).status).toBe(401);
    const { status, body } = await getJson("/tools");
    expect(status).toBe(200);
    const byName = new Map<string, any>(body.tools.map((tool: any) => [tool.name, tool]));
    expect(byName.get("calculator")).toMatchObject({ source: "builtin", requires_approval: false, approval: "none" });
    expect(byName.get("everything__echo")).toMatchObject({ source: "everything", requires_approval: false });
    expect(byName.get("everything__get-sum")?.parameters).toMatchObject({ type: "object", properties: { a: { type: "number" }, b: { type: "number" } } });
    expect(byName.get("faults__hang")).toMatchObject({ source: "faults" });
    expect(byName.get("notes__add_note")).toMatchObject({ source: "notes", requires_approval: false, approval: "none" });
    expect(byName.get("notes__list_notes")).toMatchObject({ requires_approval: true, approval: "required" });
    expect(byName.get("notes__delete_note")).toMatchObject({ requires_approval: true, approval: "destructive" });
    expect(byName.get("notes__wipe_notes")).toMatchObject({ requires_approval: false, approval: "auto_approved" });
    const sources = new Map<string, any>(body.sources.map((source: any) => [source.name, source]));
    expect(sources.get("builtin")).toMatchObject({ kind: "builtin", state: "ready" });
    expect(sources.get("notes")).toMatchObject({ kind: "http", state: "ready" });
    expect(sources.get("missing")).toMatchObject({ kind: "stdio", state: "down", error: 'could not start "agentwire-test-no-such-command": command not found' });
    // The model is offered the same tools, with their schemas.
    const offered = harness.server.app.tools.modelTools().map((tool) => tool.name);
    expect(offered).toEqual(body.tools.map((tool: any) => tool.name));
    // The configured headers reach the HTTP server.
    expect(notes.authorizations.has("Bearer notes-secret")).toBe(true);

    const metrics = (await getJson("/metrics", false)).body as string;
    expect(metrics).toContain('agentwire_tool_source_up{kind="stdio",source="everything",state="ready"} 1');
    expect(metrics).toContain('agentwire_tool_source_up{kind="http",source="notes",state="ready"} 1');
    expect(metrics).toContain('agentwire_tool_source_up{kind="stdio",source="missing",state="down"} 0');
    // A server that is down does not make the node unready.
    expect((await getJson("/readyz", false)).status).toBe(200);
  });
});

describe("a third-party server over stdio: server-everything", () => {
  test("the model calls echo and get-sum, and its answer uses their results", async () => {
    const events = await runCalling([
      { name: "everything__echo", arguments: { message: "hello over stdio" } },
      { name: "everything__get-sum", arguments: { a: 2, b: 40 } },
    ]);
    expect(toolEvents(events, "done").map((event) => event.payload.tool.result)).toEqual(["Echo: hello over stdio", "The sum of 2 and 40 is 42."]);
    expect(events.at(-1)!.payload).toMatchObject({ type: "response", status: "completed", message: "Tools said: Echo: hello over stdio | The sum of 2 and 40 is 42." });
  });

  test("stopping the run cancels a long-running call, and the server receives the cancellation", async () => {
    harness.fake.enqueue(toolCallResponse([{ name: "everything__trigger-long-running-operation", arguments: { duration: 60, steps: 60 } }]));
    const ack = await send(alice, "start the long operation");
    await alice.next((frame) => frame.payload.message_id === ack.message_id && frame.payload.type === "tool" && frame.payload.status === "processing");
    // The call reached the server before the stop, so the stop has something to cancel there.
    const callId = () =>
      readFileSync(tap, "utf8")
        .split("\n")
        .filter(Boolean)
        .map((line) => JSON.parse(line))
        .find((message) => message.method === "tools/call" && message.params?.name === "trigger-long-running-operation")?.id;
    await waitFor(() => callId() !== undefined, "the call to reach server-everything");
    await alice.request("chat", { action: "stop", message_id: ack.message_id });
    const events = await collectRun(alice, ack.message_id);
    expect(finals(events)).toHaveLength(1);
    expect(events.at(-1)!.payload).toMatchObject({ type: "response", status: "cancelled" });
    const cancelled = () => readFileSync(tap, "utf8").split("\n").filter(Boolean).map((line) => JSON.parse(line)).find((message) => message.method === "notifications/cancelled");
    await waitFor(() => cancelled() !== undefined, "server-everything to read notifications/cancelled");
    expect(cancelled().params.requestId).toBe(callId());
  });
});

describe("a Streamable HTTP server written with McpServer", () => {
  test("a tool added at run time is offered after tools/list_changed, and works", async () => {
    expect(harness.server.app.tools.get("notes__count_notes")).toBeUndefined();
    notes.addTool((server) =>
      server.registerTool("count_notes", { description: "Counts the notes", inputSchema: { prefix: z.string().optional() } }, async () => ({
        content: [{ type: "text", text: `${notes.notes.size} notes` }],
      })),
    );
    await waitFor(() => harness.server.app.tools.get("notes__count_notes") !== undefined, "the new tool to be listed");
    const events = await runCalling([{ name: "notes__count_notes", arguments: {} }]);
    expect(toolEvents(events, "done")[0]!.payload.tool.result).toMatch(/^\d+ notes$/);
  });

  test("arguments that break the schema are refused before reaching the server, and the model is told", async () => {
    const events = await runCalling([{ name: "notes__add_note", arguments: { text: 5 } }]);
    expect(toolEvents(events, "failed")[0]!.payload.tool).toMatchObject({ arguments: { text: 5 }, error: "invalid arguments: /text must be string" });
    expect(notes.calls.get("add_note")).toBeUndefined();
    expect(harness.fake.requests.at(-1)!.body.messages.at(-1)).toMatchObject({ role: "tool", content: "Error: invalid arguments: /text must be string" });
    expect(events.at(-1)!.payload).toMatchObject({ status: "completed" });
  });

  test("arguments over TOOL_MAX_CHARS are refused as for any tool, and not repeated in the event", async () => {
    const calls = notes.calls.get("add_note");
    const text = "a".repeat(TOOL_MAX_CHARS);
    const events = await runCalling([{ name: "notes__add_note", arguments: { text } }]);
    const length = JSON.stringify({ text }).length;
    expect(toolEvents(events, "failed")[0]!.payload.tool).toMatchObject({
      arguments: `[${length} characters not shown]`,
      error: `invalid arguments: ${length} characters, over the limit of ${TOOL_MAX_CHARS}`,
    });
    expect(notes.calls.get("add_note")).toBe(calls);
  });

  test("a destructive tool waits for approval and runs once approved", async () => {
    await runCalling([{ name: "notes__add_note", arguments: { text: "to be deleted" } }]);
    expect(notes.notes.size).toBe(1);
    harness.fake.enqueue(toolCallResponse([{ id: "call_delete", name: "notes__delete_note", arguments: { id: "n1" } }]), answerWithToolResults);
    const ack = await send(alice, "delete it");
    await alice.next((frame) => frame.payload.message_id === ack.message_id && frame.payload.status === "awaiting_approval");
    expect(notes.calls.get("delete_note")).toBeUndefined();
    expect((await alice.request("chat", { action: "approve", message_id: ack.message_id, call_id: "call_delete" })).payload).toMatchObject({ status: "approved" });
    const events = await collectRun(alice, ack.message_id);
    expect(shape(events)).toEqual(["status/started", "tool/processing", "tool/done", "status/responding", "response/in_progress", "response/completed"]);
    expect(toolEvents(events, "done")[0]!.payload.tool.result).toBe("deleted n1");
    expect(notes.notes.size).toBe(0);
  });
});

describe("faults: the run ends with one final event and the server keeps serving", () => {
  async function expectFailure(name: string, error: string | RegExp): Promise<void> {
    const events = await runCalling([{ name, arguments: {} }]);
    expect(finals(events)).toHaveLength(1);
    expect(toolEvents(events, "failed")[0]!.payload.tool.error).toMatch(error);
    expect(events.at(-1)!.payload).toMatchObject({ type: "response", status: "completed" });
  }

  test("a server whose command does not exist fails its tools with a clear error", async () => {
    await expectFailure("missing__anything", 'the tool server "missing" is not available: could not start "agentwire-test-no-such-command": command not found');
  });

  test("an isError result is a failed tool event", async () => {
    await expectFailure("faults__fail", "the disk is full");
  });

  test("a server that crashes mid-call fails the call and is restarted", async () => {
    const restartsBefore = sourceHealth("faults").restarts;
    await expectFailure("faults__crash", 'the MCP server "faults" stopped during the call; it is being restarted');
    await waitFor(() => sourceHealth("faults").state === "ready" && sourceHealth("faults").restarts > restartsBefore, "the fault server to be restarted");
    const events = await runCalling([{ name: "faults__echo", arguments: { message: "back" } }]);
    expect(toolEvents(events, "done")[0]!.payload.tool.result).toBe("fault-server echo: back");
  });

  test("a call that hangs past MCP_TOOL_TIMEOUT_S fails as timed out", async () => {
    await expectFailure("faults__hang", "the call timed out after 3 s (MCP_TOOL_TIMEOUT_S)");
  });

  test("a 50 MiB result is cut to a bounded size with a note to the model, in events and storage alike", async () => {
    harness.fake.enqueue(toolCallResponse([{ name: "faults__huge", arguments: {} }]), answerWithToolResults);
    const ack = await send(alice, "get the huge thing");
    const events = await collectRun(alice, ack.message_id, 30_000);
    expect(finals(events)).toHaveLength(1);
    const result: string = toolEvents(events, "done")[0]!.payload.tool.result;
    expect(result.length).toBeLessThan(TOOL_MAX_CHARS + 200);
    // The transport kept the opening of the 50 MiB line (its bytes counted with the JSON around the text)...
    expect(result.slice(0, 120)).toMatch(/^\[agentwire: the tool's result was 524\d{5} bytes; only its beginning follows\]\nxxxx/);
    // ...and the run cut that to TOOL_MAX_CHARS, as for any tool.
    expect(result.slice(-80)).toEndWith(`cut to the first ${TOOL_MAX_CHARS}]`);
    const told = harness.fake.requests.at(-1)!.body.messages.at(-1)!;
    expect(told).toMatchObject({ role: "tool", content: result });
    const stored = await harness.server.app.storage.getMessage(ack.message_id);
    expect(JSON.stringify(stored?.toolCalls).length).toBeLessThan(TOOL_MAX_CHARS + 1000);
    // The fault server is still connected: it was answered, not dropped.
    expect(sourceHealth("faults").state).toBe("ready");
  });

  test("over Streamable HTTP too, a result over MCP_MAX_MESSAGE_BYTES keeps its beginning and the server stays connected", async () => {
    const events = await runCalling([{ name: "notes__export_notes", arguments: { bytes: 5 * 1024 * 1024 } }]);
    const result: string = toolEvents(events, "done")[0]!.payload.tool.result;
    expect(result.slice(0, 120)).toMatch(/^\[agentwire: the tool's result was 524\d{4} bytes; only its beginning follows\]\nnotes export:zzz/);
    expect(result.length).toBeLessThan(TOOL_MAX_CHARS + 200);
    expect(harness.server.logs.some((line) => line.msg === "MCP server sent a message over MCP_MAX_MESSAGE_BYTES" && line.mcp_server === "notes")).toBe(true);
    const next = await runCalling([{ name: "notes__add_note", arguments: { text: "after the long export" } }]);
    expect(toolEvents(next, "done")[0]!.payload.tool.result).toMatch(/^stored n\d+$/);
  });

  test("an HTTP server that goes away fails its tools clearly; once it is back the source reconnects", async () => {
    await notes.kill();
    await expectFailure("notes__wipe_notes", /^the MCP server "notes" (could not be reached|is not available)/);
    await waitFor(() => sourceHealth("notes").state === "down", "the notes server to be seen down");
    notes.revive();
    await waitFor(() => sourceHealth("notes").state === "ready", "the notes server to be reconnected");
    const events = await runCalling([{ name: "notes__add_note", arguments: { text: "back again" } }]);
    expect(toolEvents(events, "done")[0]!.payload.tool.result).toMatch(/^stored n\d+$/);
  });

  test("a server's stderr goes to the log at debug level, never to clients", async () => {
    const stderr = harness.server.logs.filter((line) => line.msg === "MCP server stderr" && line.mcp_server === "faults");
    expect(stderr.map((line) => line.line)).toContain("fault-server: started");
    expect(stderr.every((line) => line.level === "debug")).toBe(true);
    expect(alice.drain(() => true).some((frame) => JSON.stringify(frame).includes("fault-server: started"))).toBe(false);
  });
});

function sourceHealth(name: string) {
  return harness.server.app.tools.sources.find((source) => source.name === name)!.health();
}
