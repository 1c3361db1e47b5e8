// REST through the SDK: threads and messages with the bearer token, typed errors, one retry after a 401.

import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { AgentwireClient, ApiError, httpUrlOf } from "../../src/client/index.ts";
import { textResponse } from "../helpers/fake-openai.ts";
import { startAgentHarness, type AgentHarness } from "../helpers/runs.ts";
import { waitFor } from "../helpers/wait.ts";

let harness: AgentHarness;
beforeAll(async () => {
  harness = await startAgentHarness();
});
afterAll(() => harness.stop());

const clientOf = (sub: string) => new AgentwireClient({ url: harness.server.wsUrl, getToken: () => harness.server.token({ sub }) });

describe("threads over REST", () => {
  test("create, list, send, messages with seq/epoch, rename, regenerate, delete", async () => {
    const client = clientOf("olga");
    const thread = await client.threads.create("Plans");
    expect(thread.title).toBe("Plans");
    expect(Date.parse(thread.created_at)).toBeGreaterThan(0);
    expect((await client.threads.list()).map((listed) => listed.id)).toContain(thread.id);

    harness.fake.enqueue(textResponse("Stored answer."));
    const accepted = await client.threads.send(thread.id, "hello", { useReasoning: false });
    expect(accepted).toMatchObject({ status: "accepted", thread_id: thread.id, channel: `thread:${thread.id}` });
    let snapshot = await client.threads.messages(thread.id);
    await waitFor(async () => {
      snapshot = await client.threads.messages(thread.id);
      return snapshot.messages.at(-1)?.status === "completed";
    }, "the answer to be stored");
    expect(snapshot.messages.map((message) => [message.role, message.content])).toEqual([
      ["user", "hello"],
      ["assistant", "Stored answer."],
    ]);
    expect(snapshot.seq).toBeGreaterThan(0);
    expect(typeof snapshot.epoch).toBe("string");

    expect(await client.threads.rename(thread.id, "Plans for May")).toMatchObject({ id: thread.id, title: "Plans for May" });
    harness.fake.enqueue(textResponse("Answered again."));
    const again = await client.threads.regenerate(thread.id, { useReasoning: false });
    expect(again).toMatchObject({ thread_id: thread.id, user_message_id: snapshot.messages[0]!.id });
    client.connect();
    const handle = await client.chat.watch(thread.id, again.message_id);
    expect((await handle.done).message).toBe("Answered again.");
    client.close();
    await waitFor(async () => (await client.threads.messages(thread.id)).messages.length === 2, "the replaced answer to be gone");

    await client.threads.delete(thread.id);
    expect((await client.threads.list()).map((listed) => listed.id)).not.toContain(thread.id);
    const missing = await client.threads.messages(thread.id).catch((error) => error);
    expect(missing).toBeInstanceOf(ApiError);
    expect(missing).toMatchObject({ code: "not_found", status: 404 });
  });

  test("another user's thread is not_found; a bad static token is unauthorized", async () => {
    const owner = clientOf("olga");
    const thread = await owner.threads.create();
    await expect(clientOf("peter").threads.messages(thread.id)).rejects.toMatchObject({ code: "not_found", status: 404 });
    const bad = new AgentwireClient({ url: harness.server.wsUrl, token: "not-a-token" });
    await expect(bad.threads.list()).rejects.toMatchObject({ name: "ApiError", code: "unauthorized", status: 401 });
  });

  test("a 401 asks getToken for a new token and tries once more", async () => {
    const tokens = ["expired-or-bad", await harness.server.token({ sub: "olga" })];
    let calls = 0;
    const client = new AgentwireClient({ url: harness.server.wsUrl, getToken: async () => tokens[calls++]! });
    expect(Array.isArray(await client.threads.list())).toBe(true);
    expect(calls).toBe(2);
  });

  test("a REST call that gets no answer fails with timeout; the base URL is derived from the socket URL", async () => {
    const client = new AgentwireClient({
      url: "wss://chat.example.com/ws?token=x",
      token: "t",
      requestTimeoutMs: 50,
      fetch: (url, init) =>
        new Promise((_, reject) => {
          expect(url).toBe("https://chat.example.com/threads");
          expect(new Headers(init.headers).get("authorization")).toBe("Bearer t");
          init.signal!.addEventListener("abort", () => reject(new Error("aborted")));
        }),
    });
    await expect(client.threads.list()).rejects.toMatchObject({ code: "timeout", status: 0 });
    expect(httpUrlOf("ws://localhost:8080/ws")).toBe("http://localhost:8080");
    expect(httpUrlOf("wss://example.com/base/ws/")).toBe("https://example.com/base");
  });
});
