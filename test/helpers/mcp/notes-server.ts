// A Streamable HTTP MCP server written with the SDK's McpServer, one per session as the SDK requires: a
// notes store with a destructive `delete_note`, and tools that can be added at run time (sent to every
// session as `tools/list_changed`).

import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { WebStandardStreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js";
import type { Server } from "bun";
import { z } from "zod";

type Register = (server: McpServer) => void;

export interface NotesServer {
  url: string;
  notes: Map<string, string>;
  /** Calls that reached a tool's handler, by tool name. */
  calls: Map<string, number>;
  /** Authorization headers of the requests. */
  authorizations: Set<string>;
  /** Adds a tool to every session, now and later; each connected session hears `tools/list_changed`. */
  addTool(register: Register): void;
  /** Stops serving (sessions forgotten, connections cut), as a server that died. */
  kill(): Promise<void>;
  /** Serves again on the same port. */
  revive(): void;
  close(): Promise<void>;
}

export async function startNotesServer(): Promise<NotesServer> {
  const notes = new Map<string, string>();
  const calls = new Map<string, number>();
  const authorizations = new Set<string>();
  const count = (name: string) => calls.set(name, (calls.get(name) ?? 0) + 1);
  const text = (value: string) => ({ content: [{ type: "text" as const, text: value }] });
  const registrations: Register[] = [
    (server) =>
      server.registerTool("add_note", { description: "Stores a note", inputSchema: { text: z.string().min(1) } }, async ({ text: note }) => {
        count("add_note");
        const id = `n${notes.size + 1}`;
        notes.set(id, note);
        return text(`stored ${id}`);
      }),
    (server) =>
      server.registerTool("list_notes", { description: "Lists the notes", annotations: { readOnlyHint: true } }, async () => {
        count("list_notes");
        return text([...notes].map(([id, note]) => `${id}: ${note}`).join("\n") || "no notes");
      }),
    (server) =>
      server.registerTool(
        "delete_note",
        { description: "Deletes a note for good", inputSchema: { id: z.string() }, annotations: { destructiveHint: true } },
        async ({ id }) => {
          count("delete_note");
          return text(notes.delete(id) ? `deleted ${id}` : `no note ${id}`);
        },
      ),
    (server) =>
      server.registerTool("export_notes", { description: "Exports the notes, padded to `bytes`", inputSchema: { bytes: z.number().int() } }, async ({ bytes }) =>
        text("notes export:" + "z".repeat(bytes)),
      ),
    (server) =>
      server.registerTool("wipe_notes", { description: "Deletes every note", annotations: { destructiveHint: true } }, async () => {
        count("wipe_notes");
        notes.clear();
        return text("wiped");
      }),
  ];
  const sessions = new Map<string, { server: McpServer; transport: WebStandardStreamableHTTPServerTransport }>();

  const serve = (port: number): Server<undefined> => Bun.serve({
    port,
    hostname: "127.0.0.1",
    idleTimeout: 0,
    async fetch(request) {
      authorizations.add(request.headers.get("authorization") ?? "");
      const sessionId = request.headers.get("mcp-session-id");
      const existing = sessionId ? sessions.get(sessionId) : undefined;
      if (existing) return existing.transport.handleRequest(request);
      const server = new McpServer({ name: "notes", version: "1.0.0" });
      for (const register of registrations) register(server);
      const transport = new WebStandardStreamableHTTPServerTransport({
        sessionIdGenerator: () => crypto.randomUUID(),
        onsessioninitialized: (id) => void sessions.set(id, { server, transport }),
      });
      transport.onclose = () => {
        if (transport.sessionId) sessions.delete(transport.sessionId);
      };
      await server.connect(transport);
      return transport.handleRequest(request);
    },
  });
  let http = serve(0);
  const port = http.port!;
  const dropSessions = async () => {
    for (const { server } of sessions.values()) await server.close().catch(() => {});
    sessions.clear();
  };

  return {
    url: `http://127.0.0.1:${port}/mcp`,
    notes,
    calls,
    authorizations,
    addTool(register) {
      registrations.push(register);
      // registerTool on a connected McpServer sends tools/list_changed itself.
      for (const { server } of sessions.values()) register(server);
    },
    async kill() {
      await dropSessions();
      await http.stop(true);
    },
    revive() {
      http = serve(port);
    },
    async close() {
      await dropSessions();
      await http.stop(true);
    },
  };
}
