// The built-in tools and their registry: calculator parsing, current time, history search on real SQLite.

import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { calculatorTool, evaluate, formatNumber, MAX_NESTING_DEPTH } from "../../../src/agent/tools/builtin/calculator.ts";
import { currentTimeTool } from "../../../src/agent/tools/builtin/current-time.ts";
import { BuiltinSource } from "../../../src/agent/tools/builtin/builtin-source.ts";
import { builtinTools, defaultToolRegistry, ToolRegistry } from "../../../src/agent/tools/registry.ts";
import { searchHistoryTool } from "../../../src/agent/tools/builtin/search-history.ts";
import { ToolError, type ToolContext } from "../../../src/agent/tools/tool.ts";
import { SqliteStorage } from "../../../src/storage/sqlite/sqlite-storage.ts";
import type { Storage } from "../../../src/storage/storage.ts";

let storage: SqliteStorage;
beforeEach(() => {
  storage = SqliteStorage.open(":memory:");
});
afterEach(async () => {
  await storage.close();
});

function contextFor(toolStorage: Storage, userId = "alice", signal = new AbortController().signal): ToolContext {
  return { signal, userId, threadId: "current-thread", storage: toolStorage };
}

const context = (): ToolContext => contextFor(storage);

function evaluationError(expression: string): string {
  try {
    evaluate(expression);
  } catch (error) {
    expect(error).toBeInstanceOf(ToolError);
    return (error as ToolError).message;
  }
  throw new Error(`expected ${JSON.stringify(expression)} to be refused`);
}

describe("calculator: evaluate", () => {
  test.each([
    ["1 + 2 * 3", 7],
    ["(1 + 2) * 3", 9],
    ["10 - 4 - 3", 3],
    ["100 / 10 / 5", 2],
    ["8 / 2 * 4", 16],
    ["2 ^ 3 ^ 2", 512],
    ["(2 ^ 3) ^ 2", 64],
    ["2 * 3 ^ 2", 18],
    ["-2 ^ 2", -4],
    ["(-2) ^ 2", 4],
    ["2 ^ -1", 0.5],
    ["-2 ^ -2", -0.25],
    ["-3", -3],
    ["+3", 3],
    ["--3", 3],
    ["-(2 + 1)", -3],
    ["2 * -3", -6],
    ["2 - -3", 5],
    ["4 / -2", -2],
    ["1.5 + .5", 2],
    ["3.", 3],
    ["2e3", 2000],
    ["2.5E-3 * 1e3", 2.5],
    ["1e+2", 100],
    ["  \t( 1+2 )\n*3  ", 9],
    ["((((7))))", 7],
    ["0 / 5", 0],
  ])("%p = %p", (expression, expected) => {
    expect(evaluate(expression)).toBe(expected);
  });

  test.each([
    ["(1+2))", "unexpected ')' at position 5"],
    ["()", "unexpected ')' at position 1"],
    ["1 2", "unexpected number '2' at position 2"],
    ["abc", "unexpected character 'a' at position 0"],
    ["2 + x", "unexpected character 'x' at position 4"],
    ["3x", "invalid number '3x' at position 0"],
    ["1.2.3", "invalid number '1.2.3' at position 0"],
    ["2e", "invalid number '2e' at position 0"],
    ["2+", "unexpected end of expression"],
    ["(1 + 2", "unexpected end of expression (expected ')')"],
    ["", "unexpected end of expression"],
    ["   ", "unexpected end of expression"],
    ["* 2", "unexpected '*' at position 0"],
    ["2 ** 3", "unexpected '*' at position 3"],
    ["1e400", "number too large at position 0"],
  ])("%p is refused: %p", (expression, message) => {
    expect(evaluationError(expression)).toBe(message);
  });

  test("division by zero is refused, even by a zero that is computed", () => {
    expect(evaluationError("1 / 0")).toBe("division by zero");
    expect(evaluationError("1 / (2 - 2)")).toBe("division by zero");
    expect(evaluationError("0 / 0")).toBe("division by zero");
  });

  test("non-finite results are refused at the operation that produced them", () => {
    expect(evaluationError("10 ^ 400")).toBe("the result of '^' at position 3 is not a finite number");
    expect(evaluationError("1 / 10 ^ 400")).toBe("the result of '^' at position 7 is not a finite number");
    expect(evaluationError("1e308 * 10")).toBe("the result of '*' at position 6 is not a finite number");
    expect(evaluationError("(-8) ^ (1/3)")).toBe("the result of '^' at position 5 is not a real number");
  });

  test("deep nesting is refused before it can exhaust the stack", () => {
    const depth = MAX_NESTING_DEPTH + 1;
    expect(evaluationError("(".repeat(depth) + "1" + ")".repeat(depth))).toMatch(/^expression nested too deeply at position \d+/);
    expect(evaluationError("-".repeat(depth) + "1")).toMatch(/^expression nested too deeply/);
    expect(evaluationError("2^".repeat(depth) + "1")).toMatch(/^expression nested too deeply/);
    expect(evaluationError("(".repeat(100_000))).toMatch(/^expression nested too deeply/);
    // Just under the limit still works.
    const allowed = MAX_NESTING_DEPTH - 1;
    expect(evaluate("(".repeat(allowed) + "1" + ")".repeat(allowed))).toBe(1);
  });

  test("long flat expressions are evaluated without recursion", () => {
    expect(evaluate(Array.from({ length: 50_000 }, () => "1").join(" + "))).toBe(50_000);
    expect(evaluate("2" + " * 1".repeat(50_000))).toBe(2);
    expect(evaluate("9".repeat(300))).toBe(1e300);
  });
});

describe("calculator: the tool", () => {
  test.each([
    ["0.1 + 0.2", "0.3"],
    ["1 / 3", "0.333333333333"],
    ["2 / 3", "0.666666666667"],
    ["2 ^ 0.5", "1.41421356237"],
    ["1.1 * 1.1", "1.21"],
    ["6 * 7", "42"],
    ["2 ^ 50", "1125899906842624"],
    ["-0 * 5", "0"],
    ["1e21 * 10", "1e+22"],
    ["1 / 8", "0.125"],
    ["-5 / 2", "-2.5"],
  ])("%p returns %p", async (expression, result) => {
    expect(await calculatorTool.execute({ expression }, context())).toEqual({ result });
  });

  test("formatNumber keeps exact integers and trims float noise", () => {
    expect(formatNumber(0.30000000000000004)).toBe("0.3");
    expect(formatNumber(Number.MAX_SAFE_INTEGER)).toBe("9007199254740991");
    expect(formatNumber(1.5e-7)).toBe("1.5e-7");
  });

  test("errors reach the caller as ToolError", async () => {
    await expect(calculatorTool.execute({ expression: "1 +" }, context())).rejects.toThrow(new ToolError("unexpected end of expression"));
    await expect(calculatorTool.execute({ expression: "1 / 0" }, context())).rejects.toBeInstanceOf(ToolError);
  });
});

describe("current_time", () => {
  test("returns a parseable ISO timestamp close to now", async () => {
    const before = Date.now();
    const { result } = await currentTimeTool.execute({}, context());
    const after = Date.now();
    expect(result).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
    const time = Date.parse(result);
    expect(time).toBeGreaterThanOrEqual(before);
    expect(time).toBeLessThanOrEqual(after);
  });
});

describe("registry", () => {
  const registry = defaultToolRegistry();

  test("holds the three built-in tools by name", () => {
    expect(registry.list().map((tool) => tool.name).sort()).toEqual(["calculator", "current_time", "search_history"]);
    expect(registry.get("calculator")).toBe(calculatorTool);
    expect(registry.get("missing")).toBeUndefined();
    expect(builtinTools()).toHaveLength(3);
  });

  test("refuses two tools with the same name", () => {
    expect(() => new ToolRegistry([new BuiltinSource([calculatorTool, calculatorTool])])).toThrow("duplicate tool name calculator");
  });

  test("modelTools are plain JSON Schema", () => {
    const tools = registry.modelTools();
    for (const tool of tools) {
      expect(Object.getOwnPropertySymbols(tool.parameters)).toEqual([]);
      expect(JSON.parse(JSON.stringify(tool.parameters))).toEqual(tool.parameters);
      expect(tool.parameters.type).toBe("object");
      expect(tool.description.length).toBeGreaterThan(0);
    }
    const calculator = tools.find((tool) => tool.name === "calculator")!;
    expect(calculator.parameters).toMatchObject({
      required: ["expression"],
      properties: { expression: { type: "string", minLength: 1, maxLength: 1000 } },
    });
    const properties = calculator.parameters.properties as Record<string, object>;
    expect(Object.getOwnPropertySymbols(properties.expression)).toEqual([]);
    expect(tools.find((tool) => tool.name === "current_time")!.parameters).toEqual({ type: "object", properties: {} });
  });

  test("parseArguments accepts valid arguments", () => {
    expect(registry.parseArguments("calculator", '{"expression":"1+1"}')).toEqual({ ok: true, args: { expression: "1+1" } });
    expect(registry.parseArguments("search_history", ' {"query": "trains"} ')).toEqual({ ok: true, args: { query: "trains" } });
  });

  test("parseArguments treats an empty string as {}", () => {
    expect(registry.parseArguments("current_time", "")).toEqual({ ok: true, args: {} });
    expect(registry.parseArguments("current_time", "  ")).toEqual({ ok: true, args: {} });
    expect(registry.parseArguments("calculator", "")).toEqual({
      ok: false,
      error: "invalid arguments: /expression expected required property",
      parsed: {},
    });
  });

  test("parseArguments names the failing path and returns the parsed object", () => {
    expect(registry.parseArguments("calculator", '{"expression":3}')).toEqual({
      ok: false,
      error: "invalid arguments: /expression expected string",
      parsed: { expression: 3 },
    });
    expect(registry.parseArguments("calculator", "[1]")).toEqual({ ok: false, error: "invalid arguments: / expected object", parsed: [1] });
    const tooLong = registry.parseArguments("calculator", JSON.stringify({ expression: "1".repeat(1001) }));
    expect(tooLong.ok).toBe(false);
    if (!tooLong.ok) expect(tooLong.error).toStartWith("invalid arguments: /expression ");
  });

  test("parseArguments returns the raw text as parsed when it is not valid JSON", () => {
    const raw = '{"expression": "1+';
    const outcome = registry.parseArguments("calculator", raw);
    expect(outcome.ok).toBe(false);
    if (!outcome.ok) {
      expect(outcome.error).toStartWith("invalid arguments: not valid JSON");
      expect(outcome.parsed).toBe(raw);
    }
  });

  test("parseArguments refuses an unknown tool", () => {
    expect(registry.parseArguments("rm_rf", '{"path":"/"}')).toEqual({ ok: false, error: "unknown tool rm_rf", parsed: { path: "/" } });
    expect(registry.parseArguments("rm_rf", "not json")).toEqual({ ok: false, error: "unknown tool rm_rf", parsed: "not json" });
  });
});

describe("search_history", () => {
  async function seed(): Promise<void> {
    const trip = await storage.createThread({ ownerId: "alice", title: "Trip to Zurich" });
    const untitled = await storage.createThread({ ownerId: "alice" });
    const bobs = await storage.createThread({ ownerId: "bob", title: "Bob's secrets" });
    await storage.insertMessage({ id: "a1", threadId: trip.id, ownerId: "alice", role: "user", content: "Which train goes to Zurich in the morning?", status: "completed" });
    await storage.insertMessage({ id: "a2", threadId: untitled.id, ownerId: "alice", role: "user", content: "The night train was late again", status: "completed" });
    await storage.insertMessage({ id: "a3", threadId: trip.id, ownerId: "alice", role: "user", content: "Book a hotel near the lake", status: "completed" });
    await storage.insertMessage({ id: "b1", threadId: bobs.id, ownerId: "bob", role: "user", content: "My train password is hunter2", status: "completed" });
  }

  test("returns only the caller's matches as sources with message ids and thread titles", async () => {
    await seed();
    const output = await searchHistoryTool.execute({ query: "train" }, contextFor(storage, "alice"));
    const sources = output.sources ?? [];
    expect(sources.map((source) => source.id).sort()).toEqual(["a1", "a2"]);
    const byId = new Map(sources.map((source) => [source.id, source]));
    expect(byId.get("a1")).toMatchObject({ title: "Trip to Zurich" });
    expect(byId.get("a1")?.snippet).toContain("train");
    expect(byId.get("a2")).toMatchObject({ title: "Untitled thread" });
    expect(output.result).toStartWith("2 messages matched:");
    expect(output.result).toContain('thread "Trip to Zurich"');
    expect(output.result).toContain("user message a1");
    expect(output.result).not.toContain("hunter2");
    expect(output.result).not.toContain("message b1");
  });

  test("another user sees only their own messages", async () => {
    await seed();
    const output = await searchHistoryTool.execute({ query: "train" }, contextFor(storage, "bob"));
    expect(output.sources).toEqual([{ id: "b1", title: "Bob's secrets", snippet: expect.stringContaining("train") }]);
  });

  test("no match says so and cites nothing", async () => {
    await seed();
    expect(await searchHistoryTool.execute({ query: "submarine" }, contextFor(storage, "alice"))).toEqual({ result: "no messages matched" });
    expect(await searchHistoryTool.execute({ query: "lake" }, contextFor(storage, "carol"))).toEqual({ result: "no messages matched" });
    expect(await searchHistoryTool.execute({ query: '" OR *' }, contextFor(storage, "alice"))).toEqual({ result: "no messages matched" });
  });

  test("an aborted signal refuses before searching", async () => {
    await seed();
    const controller = new AbortController();
    controller.abort(new Error("stopped"));
    let searched = false;
    const spy: Storage = Object.assign(Object.create(storage) as Storage, {
      searchMessages: () => {
        searched = true;
        return Promise.resolve([]);
      },
    });
    await expect(searchHistoryTool.execute({ query: "train" }, contextFor(spy, "alice", controller.signal))).rejects.toThrow("stopped");
    expect(searched).toBe(false);
  });
});
