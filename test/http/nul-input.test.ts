// NUL (U+0000), which PostgreSQL's text and jsonb cannot hold, the same on both dialects: refused in what
// a user sends (`invalid_message`, 400 on REST) without the text reaching the log, and replaced by U+FFFD
// in what the model or a tool produces, so a run never fails on it.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { textResponse, toolCallResponse } from "../helpers/fake-openai.ts";
import { collectRun, send, startAgentHarness, type AgentHarness } from "../helpers/runs.ts";
import { createTestDatabase, explainSkip, type TestDatabase } from "../helpers/services.ts";
import { connectAs } from "../helpers/ws-client.ts";

const SECRET = "private-words-of-the-user";
const withNul = `${SECRET}\u0000tail`;

const dialects = [
  { name: "sqlite", skip: false },
  { name: "postgres", skip: explainSkip("the NUL tests on PostgreSQL", ["postgres"]) },
];

for (const dialect of dialects) {
  describe.skipIf(dialect.skip)(dialect.name, () => {
    let harness: AgentHarness;
    let database: TestDatabase | undefined;
    beforeAll(async () => {
      if (dialect.name === "postgres") database = await createTestDatabase();
      harness = await startAgentHarness(database ? { DATABASE_URL: database.url } : {});
    });
    afterAll(async () => {
      await harness.stop();
      await database?.drop();
    });

    async function api(method: string, path: string, body: unknown) {
      const headers = { "content-type": "application/json", authorization: `Bearer ${await harness.server.token({ sub: "nina" })}` };
      const response = await fetch(`${harness.server.httpUrl}${path}`, { method, headers, body: JSON.stringify(body) });
      return { status: response.status, body: await response.json() };
    }

    test("user text with NUL is invalid_message on the socket and on REST, and the log never holds it", async () => {
      const client = await connectAs(harness.server.wsUrl, await harness.server.token({ sub: "nina" }));
      const refused = await client.request("chat", { action: "send", content: withNul });
      expect(refused.payload).toMatchObject({ code: "invalid_message", details: ["/payload/content"] });

      expect(await api("POST", "/threads", { title: withNul })).toMatchObject({ status: 400, body: { code: "invalid_message" } });
      const thread = await api("POST", "/threads", { title: "fine" });
      expect(thread.status).toBe(201);
      expect(await api("POST", `/threads/${thread.body.id}/messages`, { content: withNul })).toMatchObject({ status: 400, body: { code: "invalid_message" } });
      // An id with NUL cannot name anything; PostgreSQL would fail the lookup itself.
      const lookup = await fetch(`${harness.server.httpUrl}/threads/a%00b/messages`, { headers: { authorization: `Bearer ${await harness.server.token({ sub: "nina" })}` } });
      expect({ status: lookup.status, code: (await lookup.json()).code }).toEqual({ status: 400, code: "invalid_message" });

      // Refused before anything was stored: the thread is as it was, and the socket still serves.
      const listed = await fetch(`${harness.server.httpUrl}/threads/${thread.body.id}/messages`, { headers: { authorization: `Bearer ${await harness.server.token({ sub: "nina" })}` } });
      expect((await listed.json()).messages).toEqual([]);
      await client.barrier();
      client.close();
      expect(JSON.stringify(harness.server.logs)).not.toContain(SECRET);
    });

    test("model and tool output with NUL is stored with U+FFFD and the run completes", async () => {
      harness.fake.enqueue(
        toolCallResponse([{ id: "nul-call", name: "calculator", arguments: { expression: "1+1\u0000" } }]),
        textResponse("before\u0000after", { reasoning: "think\u0000ing" }),
      );
      const client = await connectAs(harness.server.wsUrl, await harness.server.token({ sub: "nina" }));
      const ack = await send(client, "what is 1+1?");
      const events = await collectRun(client, ack.message_id);
      expect(events.at(-1)!.payload).toMatchObject({ final_message: true, status: "completed" });
      const stored = await harness.server.app.storage.getMessage(ack.message_id);
      expect(stored).toMatchObject({ status: "completed", content: "before\uFFFDafter", reasoning: "think\uFFFDing" });
      expect(JSON.stringify(stored!.toolCalls)).toContain("1+1\uFFFD");
      expect(JSON.stringify(stored)).not.toContain("\\u0000");
      client.close();
    });
  });
}
