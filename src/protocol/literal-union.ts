// A TypeBox union of string literals whose static type is the union of those strings.

import { Type, type TUnsafe } from "@sinclair/typebox";

/**
 * `literalUnion("a", "b")` checks like `Type.Union([Type.Literal("a"), Type.Literal("b")])` and is typed
 * `"a" | "b"`; a union built with `map` would be typed `string`.
 */
export function literalUnion<const T extends readonly string[]>(...values: T): TUnsafe<T[number]> {
  return Type.Unsafe<T[number]>(Type.Union(values.map((value) => Type.Literal(value))));
}
