// Smoke test of the single binary: built with `bun run build`, run from an empty folder.

import { afterAll, beforeAll, expect, test } from "bun:test";
import { HttpAgent, type BaseEvent } from "@ag-ui/client";
import { DefaultChatTransport, isToolUIPart, readUIMessageStream, type UIMessage, type UIMessageChunk } from "ai";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startFakeOpenAI, textResponse, toolCallResponse } from "../helpers/fake-openai.ts";
import { startNotesServer } from "../helpers/mcp/notes-server.ts";
import { ROOT, run, spawnServer } from "../helpers/process.ts";
import { collectRun, send } from "../helpers/runs.ts";
import { connectAs } from "../helpers/ws-client.ts";

let buildDir: string;
let emptyDir: string;
let streamsDir: string;
beforeAll(() => {
  buildDir = mkdtempSync(join(tmpdir(), "agentwire-build-"));
  emptyDir = mkdtempSync(join(tmpdir(), "agentwire-empty-"));
  streamsDir = mkdtempSync(join(tmpdir(), "agentwire-streams-"));
});
afterAll(() => {
  rmSync(buildDir, { recursive: true, force: true });
  rmSync(emptyDir, { recursive: true, force: true });
  rmSync(streamsDir, { recursive: true, force: true });
});

/** The binary, built once for every test of this file, by whichever test needs it first. */
let building: Promise<string> | undefined;
function builtBinary(): Promise<string> {
  building ??= (async () => {
    const binary = join(buildDir, "agentwire");
    // As `bun run build` builds it (package.json): minified, so the embedded chat page is too.
    const build = await run(["bun", "build", "src/index.ts", "--compile", "--minify", "--outfile", binary], {});
    if (build.code !== 0) throw new Error(`bun build failed (${build.code}): ${build.stderr}`);
    return binary;
  })();
  return building;
}

test("the compiled binary migrates a fresh database, serves, mints tokens and stops cleanly", async () => {
  const binary = await builtBinary();

  const token = await run([binary, "token", "--sub", "bin"], {}, emptyDir);
  expect(token.code).toBe(0);
  const server = await spawnServer([binary], { cwd: emptyDir, env: {} });
  try {
    expect(existsSync(join(emptyDir, "data", "agentwire.db"))).toBe(true);
    expect(await (await fetch(`http://localhost:${server.port}/readyz`)).json()).toEqual({ status: "ready" });
    // The generated secret was kept in ./data: the token minted before start works, and the log offers a dev token.
    const client = await connectAs(`ws://localhost:${server.port}/ws`, token.stdout.trim());
    expect((await client.subscribe("user:bin")).payload.status).toBe("subscribed");
    const devLine = server.lines.find((line) => typeof line.connect_url === "string");
    expect(String(devLine?.connect_url)).toMatch(new RegExp(`^ws://[^/]+:${server.port}/ws\\?token=`));
    const dev = await connectAs(`ws://localhost:${server.port}/ws`, String(devLine!.token));
    dev.close();
    // The chat page and its bundle are inside the binary, and the log links to it with the dev token.
    expect(String(devLine?.chat_page)).toMatch(new RegExp(`^http://[^/]+:${server.port}/#token=${devLine!.token}$`));
    const page = await fetch(`http://localhost:${server.port}/`);
    expect(page.headers.get("content-type")).toContain("text/html");
    // The embedded page keeps its security headers (docs/protocol.md section 9.5).
    expect(page.headers.get("content-security-policy")).toContain("script-src 'self'");
    expect(page.headers.get("x-content-type-options")).toBe("nosniff");
    const html = await page.text();
    expect(html).toContain('aria-label="Message"');
    const script = html.match(/<script[^>]+src="([^"]+)"/)?.[1];
    expect(script).toBeDefined();
    const bundle = await fetch(`http://localhost:${server.port}${script}`);
    expect(bundle.status).toBe(200);
    expect(bundle.headers.get("x-content-type-options")).toBe("nosniff");
    expect(await bundle.text()).toContain("agentwire.token");
    server.process.kill("SIGTERM");
    expect((await client.closed).code).toBe(1001);
    expect(await server.exited).toBe(0);
  } finally {
    server.process.kill("SIGKILL");
  }
}, 60_000);

/** A fetch that hands the caller the response and keeps a copy of its body as text. */
function recordingFetch(bodies: Promise<string>[]) {
  return async (input: RequestInfo | URL, init?: RequestInit) => {
    const response = await fetch(input, init);
    if (!response.body) return response;
    const [forClient, forTest] = response.body.tee();
    bodies.push(new Response(forTest).text());
    return new Response(forClient, { status: response.status, statusText: response.statusText, headers: response.headers });
  };
}

/** The `data:` payloads of an SSE body, in order. */
const dataLines = (body: string) => body.split("\n").flatMap((line) => (line.startsWith("data: ") ? [line.slice("data: ".length)] : []));

test("the compiled binary, with its demo model, serves the AI SDK chat transport and AG-UI", async () => {
  const binary = await builtBinary();
  const token = await run([binary, "token", "--sub", "streams"], {}, streamsDir);
  expect(token.code).toBe(0);
  const authorization = `Bearer ${token.stdout.trim()}`;
  const server = await spawnServer([binary], { cwd: streamsDir, env: {} });
  const baseUrl = `http://localhost:${server.port}`;
  try {
    // POST /ai-sdk/chat as DefaultChatTransport sends it, read with readUIMessageStream (section 11).
    const chatId = crypto.randomUUID();
    const chatBodies: Promise<string>[] = [];
    const chatResponses: Response[] = [];
    const keep = recordingFetch(chatBodies);
    const transport = new DefaultChatTransport<UIMessage>({
      api: `${baseUrl}/ai-sdk/chat`,
      headers: { authorization },
      fetch: (async (input: RequestInfo | URL, init?: RequestInit) => {
        const response = await keep(input, init);
        chatResponses.push(response);
        return response;
      }) as typeof fetch,
    });
    const stream = await transport.sendMessages({
      trigger: "submit-message",
      chatId,
      messageId: undefined,
      messages: [{ id: crypto.randomUUID(), role: "user", parts: [{ type: "text", text: "what is 6 * 7?" }] }],
      abortSignal: undefined,
    });
    const [forChunks, forMessage] = stream.tee();
    const chunks: UIMessageChunk[] = [];
    const errors: unknown[] = [];
    let message: UIMessage | undefined;
    await Promise.all([
      (async () => {
        for await (const chunk of forChunks) chunks.push(chunk);
      })(),
      (async () => {
        for await (const state of readUIMessageStream({ stream: forMessage, onError: (error) => errors.push(error) })) message = state;
      })(),
    ]);
    expect(errors).toEqual([]);
    expect(chatResponses[0]!.status).toBe(200);
    expect(chatResponses[0]!.headers.get("content-type")).toContain("text/event-stream");
    expect(chatResponses[0]!.headers.get("x-vercel-ai-ui-message-stream")).toBe("v1");
    const chatWire = dataLines(await chatBodies[0]!);
    expect(chatWire.at(-1)).toBe("[DONE]");
    expect(chatWire.filter((data) => data === "[DONE]")).toHaveLength(1);
    const types = chunks.map((chunk) => chunk.type);
    expect(types[0]).toBe("start");
    expect(types.at(-1)).toBe("finish");
    expect(chunks.at(-1)).toMatchObject({ type: "finish", finishReason: "stop" });
    const input = chunks.find((chunk) => chunk.type === "tool-input-available");
    expect(input).toMatchObject({ toolName: "calculator", input: { expression: "6 * 7" } });
    const output = chunks.find((chunk) => chunk.type === "tool-output-available");
    expect(output).toMatchObject({ toolCallId: (input as { toolCallId: string }).toolCallId, output: "42" });
    expect(types.indexOf("tool-input-available")).toBeLessThan(types.indexOf("tool-output-available"));
    // The rebuilt message: the assistant's, with the calculator's call done and the demo model's answer.
    expect(message?.role).toBe("assistant");
    expect(message!.id).toBe((chunks[0] as { messageId: string }).messageId);
    expect(message!.parts.filter(isToolUIPart).map((part) => [part.type, part.state, part.output])).toEqual([["tool-calculator", "output-available", "42"]]);
    const answer = message!.parts.flatMap((part) => (part.type === "text" ? [part.text] : [])).join("");
    expect(answer).toContain("42");

    // POST /ag-ui as HttpAgent sends a RunAgentInput; its pipeline verifies the event order (section 12).
    const agUiBodies: Promise<string>[] = [];
    const agent = new HttpAgent({ url: `${baseUrl}/ag-ui`, headers: { authorization }, threadId: crypto.randomUUID(), fetch: recordingFetch(agUiBodies) });
    agent.addMessage({ id: crypto.randomUUID(), role: "user", content: "what is 6 * 7?" });
    const events: BaseEvent[] = [];
    await agent.runAgent({}, { onEvent: ({ event }) => void events.push(event) });
    const eventTypes = events.map((event) => String(event.type));
    expect(eventTypes[0]).toBe("RUN_STARTED");
    expect(eventTypes.at(-1)).toBe("RUN_FINISHED");
    expect(events.at(-1)).toMatchObject({ threadId: agent.threadId, outcome: { type: "success" } });
    expect(events.find((event) => String(event.type) === "TOOL_CALL_START")).toMatchObject({ toolCallName: "calculator" });
    expect(events.find((event) => String(event.type) === "TOOL_CALL_RESULT")).toMatchObject({ content: "42" });
    const agUiWire = dataLines(await agUiBodies[0]!).map((data) => String((JSON.parse(data) as { type: string }).type));
    expect(agUiWire).toEqual(eventTypes);
    expect(agent.messages.some((candidate) => candidate.role === "tool" && candidate.content === "42")).toBe(true);
  } finally {
    server.process.kill("SIGKILL");
  }
}, 60_000);

test("the compiled binary runs stdio and HTTP MCP servers' tools, and stops on a bad MCP_CONFIG with one clear message", async () => {
  const binary = await builtBinary();
  const directory = mkdtempSync(join(tmpdir(), "agentwire-mcp-bin-"));
  const notes = await startNotesServer();
  const fake = await startFakeOpenAI();
  try {
    const badConfig = join(directory, "bad.json");
    writeFileSync(badConfig, JSON.stringify({ mcpServers: { "my__server": { command: "x" } } }));
    const refused = await run([binary, "serve"], { MCP_CONFIG: badConfig, DATA_DIR: directory }, directory);
    expect(refused.code).toBe(2);
    expect(refused.stderr.trim()).toBe(
      `agentwire: invalid configuration:\n  MCP_CONFIG ${badConfig}: mcpServers."my__server": a server name may not contain "__" (its tools are offered as <server>__<tool>)`,
    );

    const config = join(directory, "mcp.json");
    const everything = join(ROOT, "node_modules/@modelcontextprotocol/server-everything/dist/index.js");
    writeFileSync(config, JSON.stringify({ mcpServers: { everything: { command: "bun", args: [everything, "stdio"] }, notes: { url: notes.url } } }));
    const server = await spawnServer([binary], { cwd: directory, env: { MCP_CONFIG: config, OPENAI_BASE_URL: fake.url, OPENAI_API_KEY: "sk-test", JWT_SECRET: "binary-test-secret-0123456789" } });
    try {
      const token = (await run([binary, "token", "--sub", "mcp"], { JWT_SECRET: "binary-test-secret-0123456789" }, directory)).stdout.trim();
      fake.enqueue(
        toolCallResponse([
          { name: "everything__get-sum", arguments: { a: 20, b: 22 } },
          { name: "notes__add_note", arguments: { text: "from the binary" } },
        ]),
        textResponse("done"),
      );
      const client = await connectAs(`ws://localhost:${server.port}/ws`, token);
      const ack = await send(client, "sum and note");
      const events = await collectRun(client, ack.message_id, 20_000);
      const results = events.filter((event) => event.payload.type === "tool" && event.payload.status === "done").map((event) => event.payload.tool.result);
      expect(results).toEqual(["The sum of 20 and 22 is 42.", "stored n1"]);
      expect([...notes.notes.values()]).toEqual(["from the binary"]);
      client.close();
    } finally {
      server.process.kill("SIGKILL");
    }
  } finally {
    await fake.close();
    await notes.close();
    rmSync(directory, { recursive: true, force: true });
  }
}, 60_000);
