// Checks a tool call's arguments against the tool's JSON Schema, before the call: TypeBox's compiler for
// the built-in tools' TypeBox schemas; for the plain JSON Schema an MCP server sends (which TypeBox's
// compiler refuses: it needs its own Kind markers), the Ajv validator that ships with the MCP SDK.

import { Kind, type TSchema } from "@sinclair/typebox";
import { TypeCompiler, type TypeCheck } from "@sinclair/typebox/compiler";
import { AjvJsonSchemaValidator } from "@modelcontextprotocol/sdk/validation/ajv";
import type { JsonSchema } from "./tool.ts";

/** Returns undefined for valid arguments, else what is wrong, naming the failing paths. */
export type ArgumentValidator = (value: unknown) => string | undefined;

// Enough for the model to fix its call; a schema with many fields should not flood its context.
const MAX_REPORTED_ERRORS = 5;

let ajv: AjvJsonSchemaValidator | undefined;

/** Compiles once; throws when the schema cannot be compiled (a server's broken schema). */
export function compileValidator(schema: JsonSchema): ArgumentValidator {
  if (Kind in schema) {
    const checker = TypeCompiler.Compile(schema as TSchema);
    return (value) => (checker.Check(value) ? undefined : describeTypeBoxErrors(checker, value));
  }
  ajv ??= new AjvJsonSchemaValidator();
  const validate = ajv.getValidator(schema);
  return (value) => {
    const outcome = validate(value);
    // Ajv names the value `data`: `data/a must be number`, `data must have required property 'a'`.
    return outcome.valid ? undefined : (outcome.errorMessage ?? "do not match the schema").replace(/\bdata(\/\S*)?/g, (_, path: string | undefined) => path ?? "/");
  };
}

// One message per failing path: TypeBox reports e.g. both "required property" and "expected string"
// for a missing field, and the first says it best.
function describeTypeBoxErrors(checker: TypeCheck<TSchema>, value: unknown): string {
  const byPath = new Map<string, string>();
  for (const error of checker.Errors(value)) {
    if (byPath.size >= MAX_REPORTED_ERRORS) break;
    if (!byPath.has(error.path)) byPath.set(error.path, lowerFirst(error.message));
  }
  if (byPath.size === 0) return "do not match the schema";
  return [...byPath].map(([path, message]) => `${path || "/"} ${message}`).join("; ");
}

function lowerFirst(text: string): string {
  return text.charAt(0).toLowerCase() + text.slice(1);
}
