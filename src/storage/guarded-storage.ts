// The boundary around any Storage engine, the same for both dialects: driver failures become coded errors
// (a database out of reach is `unavailable`), input with NUL is refused, and generated text is made storable.

import { ErrorCode, ProtocolError } from "../protocol/index.ts";
import { storageFailure } from "./storage-errors.ts";
import type { Checkpoint, MessagePatch, NewMessage, NewRun, Storage } from "./storage.ts";

const NUL = "\u0000";
const REPLACEMENT = "\uFFFD";

/**
 * Every string in a value with NUL replaced by U+FFFD, the same object when there is none. PostgreSQL's
 * text and jsonb cannot hold NUL, and model or tool output may contain it: replacing one UTF-16 unit by
 * one keeps offsets, so a stored message and the deltas replayed after it still line up.
 */
export function storableText<T>(value: T): T {
  if (typeof value === "string") return (value.includes(NUL) ? value.replaceAll(NUL, REPLACEMENT) : value) as T;
  if (Array.isArray(value)) {
    let changed = false;
    const items = value.map((item) => {
      const storable = storableText(item);
      if (storable !== item) changed = true;
      return storable;
    });
    return (changed ? items : value) as T;
  }
  if (value !== null && typeof value === "object" && isPlainObject(value)) {
    let changed = false;
    const entries = Object.entries(value).map(([key, item]) => {
      const storable: [string, unknown] = [storableText(key), storableText(item)];
      if (storable[0] !== key || storable[1] !== item) changed = true;
      return storable;
    });
    return (changed ? Object.fromEntries(entries) : value) as T;
  }
  return value;
}

function isPlainObject(value: object): boolean {
  const prototype = Object.getPrototypeOf(value);
  return prototype === Object.prototype || prototype === null;
}

/** Refuses input the databases cannot hold alike (docs/protocol.md section 8.2): text with NUL, on either dialect. */
function refuseNul(text: unknown, path?: string): void {
  if (typeof text === "string" && text.includes(NUL)) {
    throw new ProtocolError(ErrorCode.invalidMessage, "text must not contain the NUL character (U+0000)", path ? [path] : undefined);
  }
}

type ArgumentRule = (args: unknown[]) => unknown[];

/** What the user wrote is refused when it holds NUL; what the server generated is made storable. */
function storableMessage(message: NewMessage): NewMessage {
  if (message.role === "user") refuseNul(message.content, "/content");
  return storableText(message);
}

/** The default: ids and other string arguments with NUL are refused (PostgreSQL fails any query given one). */
const refuseNulArguments: ArgumentRule = (args) => {
  for (const arg of args) refuseNul(arg);
  return args;
};

// What the boundary does to the arguments of the methods that take text; every other method gets the default.
const argumentRules: Partial<Record<keyof Storage, ArgumentRule>> = {
  createThread: (args) => {
    const input = args[0] as { id?: string; ownerId: string; title?: string };
    refuseNul(input.id);
    refuseNul(input.ownerId);
    refuseNul(input.title, "/title");
    return args;
  },
  updateThread: (args) => {
    refuseNul(args[0]);
    refuseNul((args[1] as { title?: string }).title, "/title");
    return args;
  },
  insertMessage: ([message, ...rest]) => [storableMessage(message as NewMessage), ...rest],
  insertRun: ([run, ...rest]) => {
    const { thread, userMessage, runMessage } = run as NewRun;
    const userStored = userMessage && storableMessage(userMessage);
    refuseNul(thread?.id);
    refuseNul(thread?.ownerId);
    refuseNul(thread?.title, "/title");
    return [{ ...(run as NewRun), userMessage: userStored, runMessage: storableMessage(runMessage) }, ...rest];
  },
  updateMessage: ([messageId, patch, ...rest]) => {
    refuseNul(messageId);
    return [messageId, storableText(patch as MessagePatch), ...rest];
  },
  checkpoint: ([checkpoint, ...rest]) => [{ ...(checkpoint as Checkpoint), patch: storableText((checkpoint as Checkpoint).patch) }, ...rest],
  // Free text both engines take as it is: the words are picked out of it before it reaches a query.
  searchMessages: (args) => args,
};

const guarded = new WeakSet<object>();

/**
 * Wraps every method of `storage`, the ones added to the interface later included: arguments pass the
 * rules above (refusals are thrown as they are), and whatever a call throws goes through storageFailure.
 * Wrapping twice is a no-op.
 */
export function guardStorage(storage: Storage): Storage {
  if (guarded.has(storage)) return storage;
  const wrapped = new WeakMap<Function, Function>();
  const proxy = new Proxy(storage, {
    get(target, property) {
      const value: unknown = Reflect.get(target, property, target);
      if (typeof value !== "function") return value;
      let method = wrapped.get(value);
      if (!method) {
        const rule = argumentRules[property as keyof Storage] ?? refuseNulArguments;
        method = async (...args: unknown[]) => {
          try {
            return await value.apply(target, rule(args));
          } catch (error) {
            throw storageFailure(error);
          }
        };
        wrapped.set(value, method);
      }
      return method;
    },
  });
  guarded.add(proxy);
  return proxy;
}
