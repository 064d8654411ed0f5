/**
 * `std.json_path@1`: selects values from JSON with a JSONPath subset: `$` (the root),
 * `.name` and `['name']` (a member), `[n]` (an element; negative counts from the end),
 * `[*]` and `.*` (every element or member value), `..name` and `..*` (descendants, in
 * document order). The result is every match, in order, and the first one (`null` when
 * nothing matched).
 */
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Schema from "effect/Schema"
import { ToolError } from "../../../errors.js"
import * as Tool from "../Tool.js"

/** Longest path accepted, in characters. */
export const MAX_PATH = 1024
/** Most matches returned (a wider selection fails instead of being cut). */
export const MAX_MATCHES = 10_000

/** One step of a path. */
export type Segment =
  | { readonly kind: "member"; readonly name: string; readonly deep: boolean }
  | { readonly kind: "index"; readonly index: number; readonly deep: boolean }
  | { readonly kind: "wildcard"; readonly deep: boolean }

const NAME = /[A-Za-z_$][A-Za-z0-9_$-]*/y

/** Parse `path`, or say what is wrong with it (and where). */
export const parsePath = (path: string): Either.Either<ReadonlyArray<Segment>, string> => {
  if (!path.startsWith("$")) return Either.left("a path starts with '$' (the root), e.g. $.items[0].name")
  const segments: Array<Segment> = []
  let i = 1
  const at = (message: string) => Either.left(`${message} at position ${i}`)
  while (i < path.length) {
    let deep = false
    if (path.startsWith("..", i)) {
      deep = true
      i += 2
    } else if (path[i] === ".") {
      i += 1
    } else if (path[i] !== "[") {
      return at(`expected '.', '..' or '[' but found '${path[i]}'`)
    }
    if (path[i] === "*") {
      segments.push({ kind: "wildcard", deep })
      i++
      continue
    }
    if (path[i] === "[") {
      const close = path.indexOf("]", i)
      if (close < 0) return at("'[' is not closed")
      const inner = path.slice(i + 1, close).trim()
      if (inner === "*") segments.push({ kind: "wildcard", deep })
      else if (/^-?\d+$/.test(inner)) segments.push({ kind: "index", index: Number(inner), deep })
      else if (/^'[^']*'$|^"[^"]*"$/.test(inner)) segments.push({ kind: "member", name: inner.slice(1, -1), deep })
      else return at(`'[${inner}]' is not an index, '*' or a quoted name`)
      i = close + 1
      continue
    }
    NAME.lastIndex = i
    const name = NAME.exec(path)
    if (name === null) {
      return at(i >= path.length ? "the path ends after '.'" : `'${path[i]}' cannot start a member name (quote it: ['${path.slice(i).split(/[.[]/)[0]}'])`)
    }
    segments.push({ kind: "member", name: name[0], deep })
    i += name[0].length
  }
  return Either.right(segments)
}

const children = (value: unknown): ReadonlyArray<unknown> =>
  Array.isArray(value) ? value : value !== null && typeof value === "object" ? Object.values(value) : []

/** `value` and everything under it, in document order. */
const descendants = (value: unknown, out: Array<unknown>): void => {
  const stack: Array<unknown> = [value]
  while (stack.length > 0) {
    const current = stack.pop()
    out.push(current)
    const kids = children(current)
    for (let k = kids.length - 1; k >= 0; k--) stack.push(kids[k])
  }
}

const step = (value: unknown, segment: Segment): ReadonlyArray<unknown> => {
  switch (segment.kind) {
    case "wildcard":
      return children(value)
    case "index": {
      if (!Array.isArray(value)) return []
      const i = segment.index < 0 ? value.length + segment.index : segment.index
      return i >= 0 && i < value.length ? [value[i]] : []
    }
    case "member":
      return value !== null && typeof value === "object" && !Array.isArray(value) && Object.hasOwn(value, segment.name)
        ? [(value as Record<string, unknown>)[segment.name]]
        : []
  }
}

/** Every match of `segments` in `data`, in order (`undefined` once there are more than `limit`). */
export const select = (data: unknown, segments: ReadonlyArray<Segment>, limit = MAX_MATCHES): ReadonlyArray<unknown> | undefined => {
  let current: ReadonlyArray<unknown> = [data]
  for (const segment of segments) {
    const next: Array<unknown> = []
    for (const value of current) {
      // Appended one by one and counted as they come: spreading a large array into push
      // overflows the stack before any limit is checked.
      const add = (values: ReadonlyArray<unknown>): boolean => {
        for (const v of values) {
          if (next.length >= limit) return false
          next.push(v)
        }
        return true
      }
      if (segment.deep) {
        const all: Array<unknown> = []
        descendants(value, all)
        for (const d of all) if (!add(step(d, segment))) return undefined
      } else if (!add(step(value, segment))) {
        return undefined
      }
    }
    current = next
  }
  return current
}

/** `std.json_path@1`. */
export const jsonPath = Tool.make({
  id: "std.json_path",
  version: "1",
  description: "Select values from JSON with a JSONPath subset ($, .name, ['name'], [n], [*], .*, ..name): every match and the first.",
  input: Schema.Struct({ data: Schema.Unknown, path: Schema.String.pipe(Schema.maxLength(MAX_PATH)) }),
  output: Schema.Struct({ matches: Schema.Array(Schema.Unknown), value: Schema.Unknown, count: Schema.Int }),
  run: ({ data, path }) =>
    Either.match(parsePath(path), {
      onLeft: (message) =>
        Effect.fail(new ToolError({ reason: "invalid-input", argument: "path", message: `invalid JSONPath '${path}': ${message}`, fix: "write a path such as $.items[*].sku, $.order['id'] or $..name" })),
      onRight: (segments) => {
        const matches = select(data, segments)
        return matches === undefined
          ? Effect.fail(new ToolError({ reason: "failed", argument: "path", message: `'${path}' selects more than ${MAX_MATCHES} values`, fix: "narrow the path (an index instead of [*], a member instead of ..)" }))
          : Effect.succeed({ matches: [...matches], value: matches[0] ?? null, count: matches.length })
      }
    })
})
