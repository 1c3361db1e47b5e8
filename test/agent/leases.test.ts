// Run leases on one node: a run whose node stopped renewing is reaped and its watchers told.

import { afterAll, beforeAll, expect, test } from "bun:test";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { connectAs } from "../helpers/ws-client.ts";

let server: TestServer;
beforeAll(async () => {
  server = await startTestServer({ LEASE_TTL_S: "0.4" });
});
afterAll(() => server.stop());

test("a run of a node that stopped renewing its lease ends interrupted, with a final event for watchers", async () => {
  const { storage } = server.app;
  const thread = await storage.createThread({ ownerId: "lena", title: "orphan" });
  const watcher = await connectAs(server.wsUrl, await server.token({ sub: "lena" }));
  await watcher.subscribe(`thread:${thread.id}`);
  await storage.insertMessage({
    id: "orphan",
    threadId: thread.id,
    ownerId: "lena",
    role: "assistant",
    content: "cut off here",
    status: "streaming",
    nodeId: "a-node-that-died",
    leaseExpiresAt: new Date(Date.now() + 200),
  });
  const final = await watcher.next((frame) => frame.channel === `thread:${thread.id}`, 5000);
  expect(final.payload).toMatchObject({
    type: "error",
    status: "error",
    final_message: true,
    message_id: "orphan",
    thread_id: thread.id,
    error_details: { kind: "node_lost" },
  });
  expect(await storage.getMessage("orphan")).toMatchObject({ status: "interrupted", content: "cut off here" });
  watcher.close();
});

test("this node's own runs keep their lease while they run", async () => {
  const { storage, agent } = server.app;
  await agent.leases.renew();
  expect(await storage.reapExpiredRuns(new Date())).toEqual([]);
});

test("stop for a run on a node that cannot be reached is unavailable, for another user's forbidden", async () => {
  const { storage } = server.app;
  const thread = await storage.createThread({ ownerId: "lena" });
  await storage.insertMessage({
    id: "elsewhere",
    threadId: thread.id,
    ownerId: "lena",
    role: "assistant",
    content: "",
    status: "streaming",
    nodeId: "another-node",
    leaseExpiresAt: new Date(Date.now() + 60_000),
  });
  const lena = await connectAs(server.wsUrl, await server.token({ sub: "lena" }));
  expect((await lena.request("chat", { action: "stop", message_id: "elsewhere" })).payload.code).toBe("unavailable");
  const other = await connectAs(server.wsUrl, await server.token({ sub: "mike" }));
  expect((await other.request("chat", { action: "stop", message_id: "elsewhere" })).payload.code).toBe("forbidden");
  const { control } = server.app.agent;
  await expect(control.stopThreadRun("lena", thread.id)).rejects.toMatchObject({ code: "unavailable" });
  await expect(control.stopThreadRun("mike", thread.id)).rejects.toMatchObject({ code: "not_found" });
  await storage.updateMessage("elsewhere", { status: "completed" });
  lena.close();
  other.close();
});
