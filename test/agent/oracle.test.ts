// No existence oracle: another user's thread answers a send exactly as a thread that does not exist,
// on the socket and over REST (docs/protocol.md sections 6.1 and 7).

import { afterAll, beforeAll, expect, test } from "bun:test";
import { textResponse } from "../helpers/fake-openai.ts";
import { collectRun, send, startAgentHarness, type AgentHarness } from "../helpers/runs.ts";
import { connectAs, type TestClient } from "../helpers/ws-client.ts";

let harness: AgentHarness;
let alice: TestClient;
let mallory: TestClient;
let aliceThread: string;

beforeAll(async () => {
  harness = await startAgentHarness();
  alice = await connectAs(harness.server.wsUrl, await harness.server.token({ sub: "alice" }));
  mallory = await connectAs(harness.server.wsUrl, await harness.server.token({ sub: "mallory" }));
  harness.fake.enqueue(textResponse("private answer"));
  const ack = await send(alice, "private question");
  await collectRun(alice, ack.message_id);
  aliceThread = ack.thread_id;
});
afterAll(async () => {
  alice.close();
  mallory.close();
  await harness.stop();
});

/** An answer with the thread id it names replaced, so answers about different ids compare. */
const withoutId = (answer: unknown, threadId: string) => JSON.parse(JSON.stringify(answer).replaceAll(threadId, "<id>"));

test("a chat send to another user's thread answers as to an unknown thread", async () => {
  const unknown = crypto.randomUUID();
  const theirs = await mallory.request("chat", { action: "send", thread_id: aliceThread, content: "let me in" });
  const missing = await mallory.request("chat", { action: "send", thread_id: unknown, content: "let me in" });
  expect(theirs.payload).toMatchObject({ code: "not_found", message: `no thread ${aliceThread}` });
  expect(withoutId({ ...theirs, id: undefined }, aliceThread)).toEqual(withoutId({ ...missing, id: undefined }, unknown));
  expect((await harness.server.app.storage.listMessages(aliceThread)).map((message) => message.content)).toEqual(["private question", "private answer"]);
});

test("POST /threads/:id/messages to another user's thread answers as to an unknown thread", async () => {
  const headers = { authorization: `Bearer ${await harness.server.token({ sub: "mallory" })}`, "content-type": "application/json" };
  const post = (threadId: string) =>
    fetch(`${harness.server.httpUrl}/threads/${threadId}/messages`, { method: "POST", headers, body: JSON.stringify({ content: "let me in" }) });
  const unknown = crypto.randomUUID();
  const theirs = await post(aliceThread);
  const missing = await post(unknown);
  expect(theirs.status).toBe(404);
  expect(missing.status).toBe(theirs.status);
  const theirsBody = await theirs.json();
  expect(theirsBody).toEqual({ code: "not_found", message: `no thread ${aliceThread}` });
  expect(withoutId(theirsBody, aliceThread)).toEqual(withoutId(await missing.json(), unknown));
  expect((await harness.server.app.storage.listMessages(aliceThread)).map((message) => message.content)).toEqual(["private question", "private answer"]);
});
