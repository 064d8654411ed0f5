/**
 * JSON discipline for run state: state is plain JSON so that it hashes, persists and
 * replays bit-identically. Sets, Maps, Dates, `undefined`, functions, NaN and class
 * instances are refused, never coerced.
 */
import { canonicalJson } from "./hash.js"

/** Where a value stops being JSON, and why. */
export interface JsonProblem {
  readonly path: string
  readonly message: string
}

/** First non-JSON part of `value`, or undefined when it is plain JSON. */
export const checkJson = (value: unknown, path: string): JsonProblem | undefined => {
  switch (typeof value) {
    case "string":
    case "boolean":
      return undefined
    case "number":
      return Number.isFinite(value) ? undefined : { path, message: `${value} is not a JSON number` }
    case "undefined":
      return { path, message: "undefined is not JSON (use null, or leave the field out of the update)" }
    case "object": {
      if (value === null) return undefined
      if (Array.isArray(value)) {
        for (let i = 0; i < value.length; i++) {
          const p = checkJson(value[i], `${path}[${i}]`)
          if (p) return p
        }
        return undefined
      }
      if (value instanceof Set) {
        return { path, message: "a Set is not allowed in state: iteration order breaks deterministic replay (use an array)" }
      }
      const proto: unknown = Object.getPrototypeOf(value)
      if (proto !== Object.prototype && proto !== null) {
        const name = (value as { constructor?: { name?: string } }).constructor?.name ?? "object"
        return { path, message: `a ${name} instance is not plain JSON (convert it to a plain object, array or string)` }
      }
      for (const [k, v] of Object.entries(value)) {
        const p = checkJson(v, `${path}.${k}`)
        if (p) return p
      }
      return undefined
    }
    default:
      return { path, message: `a ${typeof value} is not JSON` }
  }
}

/** Structural equality of two JSON values. */
export const jsonEqual = (a: unknown, b: unknown): boolean => {
  if (a === b) return true
  if (typeof a !== "object" || typeof b !== "object" || a === null || b === null) return false
  return canonicalJson(a) === canonicalJson(b)
}

/**
 * The state delta of a step: every field the step wrote, with its value after the
 * reducers ran (O(fields written), no deep comparison).
 */
export const writtenDelta = (
  after: { readonly [k: string]: unknown },
  writes: ReadonlyArray<{ readonly update: { readonly [k: string]: unknown } }>
): { readonly [k: string]: unknown } => {
  const delta: Record<string, unknown> = {}
  for (const w of writes) for (const key in w.update) delta[key] = after[key]
  return delta
}
