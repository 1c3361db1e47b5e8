// The built-in demo model used when no provider is configured: it streams a labelled answer and
// calls the built-in tools, so `bun start` shows a whole run without any account.

import type { ModelClient, ModelEvent, ModelMessage, ModelRequest, ModelToolCall } from "./model-client.ts";

// The user's text reaches these scanners, so they are plain loops, linear in its length: the regexes
// they replace backtracked quadratically (5 s on "1 " * 50000, every connection frozen meanwhile).
const EXPRESSION_CHARACTERS = new Set("0123456789.+-*/^() \t");
const OPERATORS = new Set("+-*/^");
const LEADING = new Set("+-(");
const isDigit = (character: string | undefined) => character !== undefined && character >= "0" && character <= "9";

/**
 * The first arithmetic expression in `text`: within a run of calculator characters, from the signs and
 * parentheses right before its first digit to its last digit or `)`, holding an operator between digits.
 */
export function findExpression(text: string): string | undefined {
  let index = 0;
  while (index < text.length) {
    if (!EXPRESSION_CHARACTERS.has(text[index]!)) {
      index++;
      continue;
    }
    const runStart = index;
    while (index < text.length && EXPRESSION_CHARACTERS.has(text[index]!)) index++;
    const expression = expressionIn(text, runStart, index);
    if (expression) return expression;
  }
  return undefined;
}

function expressionIn(text: string, from: number, to: number): string | undefined {
  let firstDigit = from;
  while (firstDigit < to && !isDigit(text[firstDigit])) firstDigit++;
  if (firstDigit === to) return undefined;
  let start = firstDigit;
  while (start > from && LEADING.has(text[start - 1]!)) start--;
  let end = to;
  while (end > firstDigit && !isDigit(text[end - 1]) && text[end - 1] !== ")") end--;
  // An operator with a digit somewhere after it makes this arithmetic rather than a lone number.
  let operatorSeen = false;
  for (let index = firstDigit + 1; index < end; index++) {
    const character = text[index]!;
    if (OPERATORS.has(character)) operatorSeen = true;
    else if (operatorSeen && isDigit(character)) return text.slice(start, end).trim();
  }
  return undefined;
}

const SEARCH_WORD = /\b(?:search|find|remember|recall)\b/i;
const FILLER_WORDS = ["for", "about"];

/** What the user asks to search for: the rest of the line after search/find/remember/recall, minus "for"/"about" and end punctuation. */
export function searchQuery(text: string): string | undefined {
  const found = SEARCH_WORD.exec(text);
  if (!found) return undefined;
  let rest = text.slice(found.index + found[0].length);
  const newline = rest.indexOf("\n");
  if (newline >= 0) rest = rest.slice(0, newline);
  rest = rest.trimStart();
  for (const word of FILLER_WORDS) {
    if (rest.toLowerCase().startsWith(word) && !/\w/.test(rest[word.length] ?? "")) {
      rest = rest.slice(word.length).trimStart();
      break;
    }
  }
  let end = rest.length;
  while (end > 0 && "?.!".includes(rest[end - 1]!)) end--;
  const query = rest.slice(0, end).trim();
  return query.length > 0 ? query : undefined;
}

function lastUserText(messages: ModelMessage[]): string {
  for (let i = messages.length - 1; i >= 0; i--) {
    const message = messages[i]!;
    if (message.role === "user") return message.content;
  }
  return "";
}

/** Picks a tool call for the user's text, when one of the offered tools fits. */
function planToolCall(text: string, offered: Set<string>): ModelToolCall | undefined {
  const call = (name: string, args: Record<string, unknown>): ModelToolCall => ({
    id: `demo_${crypto.randomUUID().slice(0, 8)}`,
    type: "function",
    function: { name, arguments: JSON.stringify(args) },
  });
  const expression = findExpression(text);
  if (expression && offered.has("calculator")) return call("calculator", { expression });
  if (/\b(time|date|today|clock)\b/i.test(text) && offered.has("current_time")) return call("current_time", {});
  const query = searchQuery(text);
  if (query && offered.has("search_history")) return call("search_history", { query });
  return undefined;
}

function answerFor(messages: ModelMessage[]): string {
  const last = messages[messages.length - 1];
  if (last?.role === "tool") {
    const call = messages
      .flatMap((message) => (message.role === "assistant" ? (message.tool_calls ?? []) : []))
      .find((candidate) => candidate.id === last.tool_call_id);
    return `[demo model] The ${call?.function.name ?? "tool"} tool answered: ${last.content}`;
  }
  return (
    "[demo model] Hello! I am agentwire's built-in demo model, so this answer is scripted. " +
    "Set OPENAI_API_KEY (and OPENAI_BASE_URL and AGENT_MODEL for Groq, DeepSeek, Ollama or vLLM) to talk to a real model. " +
    'Meanwhile, try "what is 12 * (3 + 4)?" or "what time is it?" to watch a tool call stream by.'
  );
}

export function createDemoModel(options: { delayMs?: number } = {}): ModelClient {
  const delayMs = options.delayMs ?? 15;
  return {
    name: "demo",
    async *stream(request: ModelRequest, signal: AbortSignal): AsyncGenerator<ModelEvent> {
      const pause = () => (delayMs > 0 ? Bun.sleep(delayMs) : Promise.resolve());
      const offered = new Set(request.tools.map((tool) => tool.name));
      const last = request.messages[request.messages.length - 1];
      const toolCall = last?.role === "user" ? planToolCall(last.content, offered) : undefined;
      const userText = lastUserText(request.messages);
      const thought = toolCall
        ? `The user asked "${userText.slice(0, 80)}". The ${toolCall.function.name} tool can answer that.`
        : last?.role === "tool"
          ? "The tool answered; I will pass its result on."
          : "No tool fits; I will explain how to configure a real model.";
      for (const word of thought.split(/(?<= )/)) {
        if (signal.aborted) return;
        yield { type: "reasoning", delta: word };
        await pause();
      }
      let completion = thought.length;
      if (!toolCall) {
        const answer = answerFor(request.messages);
        for (const word of answer.split(/(?<= )/)) {
          if (signal.aborted) return;
          yield { type: "text", delta: word };
          await pause();
        }
        completion += answer.length;
      }
      if (signal.aborted) return;
      const prompt = request.messages.reduce((total, message) => total + (message.content?.length ?? 0), 0);
      yield {
        type: "end",
        toolCalls: toolCall ? [toolCall] : [],
        usage: { prompt_tokens: Math.ceil(prompt / 4), completion_tokens: Math.ceil(completion / 4) },
        finishReason: toolCall ? "tool_calls" : "stop",
      };
    },
  };
}
