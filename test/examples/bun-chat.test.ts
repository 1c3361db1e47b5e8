// The Bun example drives a whole run through the SDK: streamed text, a tool approved, the final status.

import { afterAll, beforeAll, expect, test } from "bun:test";
import { join } from "node:path";
import { textResponse, toolCallResponse } from "../helpers/fake-openai.ts";
import { ROOT, run } from "../helpers/process.ts";
import { startAgentHarness, type AgentHarness } from "../helpers/runs.ts";

let harness: AgentHarness;
beforeAll(async () => {
  harness = await startAgentHarness({ TOOLS_REQUIRE_APPROVAL: "calculator" });
});
afterAll(() => harness.stop());

const example = join(ROOT, "examples/bun-chat.ts");

test("examples/bun-chat.ts streams the answer to stdout, approving the tool the server asks about", async () => {
  harness.fake.enqueue(
    toolCallResponse([{ id: "call_1", name: "calculator", arguments: { expression: "2^10 - 24" } }]),
    textResponse("It is 1000.", { chunkSize: 2 }),
  );
  const token = await harness.server.token({ sub: "alice" });
  const result = await run(["bun", "run", example, "What is 2^10 - 24?"], { AGENTWIRE_URL: harness.server.wsUrl, AGENTWIRE_TOKEN: token });
  expect(result.code).toBe(0);
  expect(result.stdout).toBe("It is 1000.\n");
  expect(result.stderr).toContain('[tool calculator awaiting_approval] {"expression":"2^10 - 24"}');
  expect(result.stderr).toContain('[tool calculator done] {"expression":"2^10 - 24"} → 1000');
  // Usage adds up both model turns (the fake reports 10+5 each).
  expect(result.stderr).toContain("[completed, 20+10 tokens]");
  expect(result.stderr).not.toContain("[disconnected]");
  // The tool ran because the script approved it: the model's second turn got the result.
  const secondTurn = harness.fake.requests.at(-1)!.body.messages;
  expect(secondTurn.some((message) => message.role === "tool" && message.content === "1000")).toBe(true);
});

test("--reject rejects the tool; a run that fails exits 1 with the reason", async () => {
  harness.fake.enqueue(
    toolCallResponse([{ id: "call_2", name: "calculator", arguments: { expression: "1+1" } }]),
    { kind: "error", status: 400, body: { error: { message: "bad request from the fake" } } },
  );
  const token = await harness.server.token({ sub: "alice" });
  const result = await run(["bun", "run", example, "--reject", "Add"], { AGENTWIRE_URL: harness.server.wsUrl, AGENTWIRE_TOKEN: token });
  expect(result.stderr).toContain("[tool calculator rejected]");
  expect(result.stderr).toContain("[run failed]");
  expect(result.code).toBe(1);
});

test("without a token it prints its usage and exits 2", async () => {
  const result = await run(["bun", "run", example, "hello"], {});
  expect(result.code).toBe(2);
  expect(result.stderr).toContain("usage:");
});
