// The `calculator` tool: a recursive-descent parser for + - * / ^ and parentheses on numbers, no eval.

import { Type } from "@sinclair/typebox";
import { defineTool, ToolError } from "../tool.ts";

/**
 * How deeply parentheses, signs and exponents may nest. Each level costs a handful of stack
 * frames, so this keeps a hostile `((((…` or `----…` far from the engine's stack limit while
 * leaving plenty of room for any expression a person would write.
 */
export const MAX_NESTING_DEPTH = 128;

const SIGNIFICANT_DIGITS = 12;

type OperatorText = "+" | "-" | "*" | "/" | "^" | "(" | ")";
type OperatorToken = { kind: "operator"; text: OperatorText; position: number };
type Token = { kind: "number"; value: number; text: string; position: number } | OperatorToken | { kind: "end"; position: number };

// A decimal with optional fraction and exponent: `1`, `1.`, `1.5`, `.5`, `2e3`, `2.5E-3`.
const NUMBER_PATTERN = /(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?/y;
const WORD_PATTERN = /[\p{L}\p{N}_.]+/uy;
const OPERATORS: ReadonlySet<string> = new Set<OperatorText>(["+", "-", "*", "/", "^", "(", ")"]);

/** Evaluates an arithmetic expression; throws a ToolError that says what is wrong and where. */
export function evaluate(expression: string): number {
  return new Parser(tokenize(expression)).parse();
}

/** Rounds away binary floating-point noise (`0.1 + 0.2` gives "0.3") while keeping exact integers exact. */
export function formatNumber(value: number): string {
  if (Number.isSafeInteger(value)) return String(value);
  // Number() drops the trailing zeros toPrecision pads with, and String(-0) is "0".
  return String(Number(value.toPrecision(SIGNIFICANT_DIGITS)));
}

export const calculatorTool = defineTool({
  name: "calculator",
  description:
    "Evaluates an arithmetic expression exactly as written and returns the number. Supports + - * / ^ (power), " +
    'parentheses, unary minus and decimals such as 1.5 or 2e3, e.g. "(2 + 3) * 4 ^ 2 / -1.5".',
  parameters: Type.Object({
    expression: Type.String({ minLength: 1, maxLength: 1000, description: "The arithmetic expression to evaluate" }),
  }),
  async execute(args, context) {
    context.signal.throwIfAborted();
    return { result: formatNumber(evaluate(args.expression)) };
  },
});

// Positions are 0-based character offsets, the convention JSON.parse's errors use too.
function tokenize(expression: string): Token[] {
  const tokens: Token[] = [];
  let position = 0;
  while (position < expression.length) {
    const character = expression[position]!;
    if (/\s/.test(character)) {
      position++;
      continue;
    }
    if (isOperatorText(character)) {
      tokens.push({ kind: "operator", text: character, position });
      position++;
      continue;
    }
    NUMBER_PATTERN.lastIndex = position;
    const match = NUMBER_PATTERN.exec(expression);
    if (match) {
      const text = match[0];
      // `2e`, `3x` or `1.2.3` would otherwise split into a number and a confusing "unexpected ..." error.
      WORD_PATTERN.lastIndex = position;
      const word = WORD_PATTERN.exec(expression)?.[0] ?? text;
      if (word.length > text.length) throw new ToolError(`invalid number '${word}' at position ${position}`);
      const value = Number(text);
      if (!Number.isFinite(value)) throw new ToolError(`number too large at position ${position}`);
      tokens.push({ kind: "number", value, text, position });
      position += text.length;
      continue;
    }
    throw new ToolError(`unexpected character '${character}' at position ${position}`);
  }
  tokens.push({ kind: "end", position });
  return tokens;
}

/**
 * Grammar, loosest binding first:
 *   sum     = product (("+" | "-") product)*
 *   product = signed (("*" | "/") signed)*
 *   signed  = ("+" | "-") signed | power
 *   power   = primary ("^" signed)?
 *   primary = number | "(" sum ")"
 * A sign applies to a whole power (`-2^2` is -4) and `^` recurses to its right, so `2^3^2` is 2^9.
 */
class Parser {
  private index = 0;
  private depth = 0;

  constructor(private readonly tokens: Token[]) {}

  parse(): number {
    const value = this.sum();
    const token = this.peek();
    if (token.kind !== "end") throw unexpected(token);
    return value;
  }

  private sum(): number {
    let value = this.product();
    for (let token = this.peek(); isOperator(token, "+") || isOperator(token, "-"); token = this.peek()) {
      this.index++;
      const right = this.product();
      value = checkFinite(token.text === "+" ? value + right : value - right, token);
    }
    return value;
  }

  private product(): number {
    let value = this.signed();
    for (let token = this.peek(); isOperator(token, "*") || isOperator(token, "/"); token = this.peek()) {
      this.index++;
      const right = this.signed();
      if (token.text === "/" && right === 0) throw new ToolError("division by zero");
      value = checkFinite(token.text === "*" ? value * right : value / right, token);
    }
    return value;
  }

  // Every recursive path (parentheses, signs, exponents) passes through here, so the depth is counted once.
  private signed(): number {
    if (++this.depth > MAX_NESTING_DEPTH) {
      throw new ToolError(`expression nested too deeply at position ${this.peek().position} (limit ${MAX_NESTING_DEPTH})`);
    }
    try {
      const token = this.peek();
      if (isOperator(token, "-")) {
        this.index++;
        return -this.signed();
      }
      if (isOperator(token, "+")) {
        this.index++;
        return this.signed();
      }
      return this.power();
    } finally {
      this.depth--;
    }
  }

  private power(): number {
    const base = this.primary();
    const token = this.peek();
    if (!isOperator(token, "^")) return base;
    this.index++;
    return checkFinite(base ** this.signed(), token);
  }

  private primary(): number {
    const token = this.peek();
    if (token.kind === "number") {
      this.index++;
      return token.value;
    }
    if (isOperator(token, "(")) {
      this.index++;
      const value = this.sum();
      const closing = this.peek();
      if (!isOperator(closing, ")")) throw unexpected(closing, "expected ')'");
      this.index++;
      return value;
    }
    throw unexpected(token);
  }

  private peek(): Token {
    // The tokenizer always ends with an `end` token and nothing consumes past it.
    return this.tokens[this.index]!;
  }
}

function isOperatorText(character: string): character is OperatorText {
  return OPERATORS.has(character);
}

function isOperator<Text extends OperatorText>(token: Token, text: Text): token is OperatorToken & { text: Text } {
  return token.kind === "operator" && token.text === text;
}

function unexpected(token: Token, expectation?: string): ToolError {
  const suffix = expectation ? ` (${expectation})` : "";
  if (token.kind === "end") return new ToolError(`unexpected end of expression${suffix}`);
  if (token.kind === "number") return new ToolError(`unexpected number '${token.text}' at position ${token.position}${suffix}`);
  return new ToolError(`unexpected '${token.text}' at position ${token.position}${suffix}`);
}

// Checked after every operation, not only at the end, because 1/(10^400) would otherwise hide an overflow as 0.
function checkFinite(value: number, operator: OperatorToken): number {
  if (Number.isFinite(value)) return value;
  const what = Number.isNaN(value) ? "is not a real number" : "is not a finite number";
  throw new ToolError(`the result of '${operator.text}' at position ${operator.position} ${what}`);
}
