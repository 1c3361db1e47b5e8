// The demo model reads the user's text with linear scanners: the right tool call for ordinary text,
// and an answer for hostile text of the largest size a message may have (docs/security.md).

import { describe, expect, test } from "bun:test";
import { createDemoModel, findExpression, searchQuery } from "../../src/agent/model/demo-model.ts";
import type { ModelEvent } from "../../src/agent/model/model-client.ts";

const MAX_CONTENT = 100_000;

describe("finding an expression", () => {
  test("takes the arithmetic out of a sentence", () => {
    expect(findExpression("what is 12 * (3 + 4)?")).toBe("12 * (3 + 4)");
    expect(findExpression("compute -(2+3)^2 please")).toBe("-(2+3)^2");
    expect(findExpression("1.5 / .5 and more")).toBe("1.5 / .5");
    expect(findExpression("I have 3 cats and 4 dogs")).toBeUndefined();
    expect(findExpression("no numbers here")).toBeUndefined();
  });

  test("hostile text of the largest message size is answered", () => {
    expect(findExpression("1 ".repeat(MAX_CONTENT / 2))).toBeUndefined();
    expect(findExpression("1 ".repeat(MAX_CONTENT / 2 - 2) + "+ 2")).toBe("1 ".repeat(MAX_CONTENT / 2 - 2) + "+ 2");
    expect(findExpression("(".repeat(MAX_CONTENT - 1) + "1")).toBeUndefined();
    expect(findExpression("1-".repeat(MAX_CONTENT / 2))).toBe("1-".repeat(MAX_CONTENT / 2 - 1) + "1");
  });
});

describe("finding a search query", () => {
  test("takes the rest of the line, without filler words or end punctuation", () => {
    expect(searchQuery("search for cats?")).toBe("cats");
    expect(searchQuery("Can you recall about the trip!")).toBe("the trip");
    expect(searchQuery("find format strings")).toBe("format strings");
    expect(searchQuery("search\nnext line")).toBeUndefined();
    expect(searchQuery("searching")).toBeUndefined();
  });

  test("hostile text of the largest message size is answered", () => {
    expect(searchQuery("search" + "\n".repeat(MAX_CONTENT - 6))).toBeUndefined();
    expect(searchQuery("search" + " ".repeat(MAX_CONTENT - 6))).toBeUndefined();
    expect(searchQuery("search x" + "?".repeat(MAX_CONTENT - 9) + "a")).toBe("x" + "?".repeat(MAX_CONTENT - 9) + "a");
  });
});

test("the demo model streams for a hostile message and offers the calculator for arithmetic", async () => {
  const model = createDemoModel({ delayMs: 0 });
  const tools = ["calculator", "current_time", "search_history"].map((name) => ({ name, description: name, parameters: {} }));
  const events = async (content: string) => {
    const seen: ModelEvent[] = [];
    for await (const event of model.stream({ messages: [{ role: "user", content }], tools } as never, new AbortController().signal)) seen.push(event);
    return seen;
  };
  const hostile = await events("1 ".repeat(MAX_CONTENT / 2));
  expect(hostile.at(-1)).toMatchObject({ type: "end", toolCalls: [] });
  const arithmetic = await events("what is 6 * 7?");
  const end = arithmetic.at(-1) as Extract<ModelEvent, { type: "end" }>;
  expect(JSON.parse(end.toolCalls[0]!.function.arguments)).toEqual({ expression: "6 * 7" });
});
