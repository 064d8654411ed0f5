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

/** Deepest nesting of arrays and objects accepted in run state, inputs and responses. */
export const MAX_JSON_DEPTH = 512

/** Why `value` (found at a path) is not plain JSON, or undefined when it is. */
const problemOf = (value: unknown): string | undefined => {
  switch (typeof value) {
    case "string":
    case "boolean":
      return undefined
    case "number":
      return Number.isFinite(value) ? undefined : `${value} is not a JSON number`
    case "undefined":
      return "undefined is not JSON (use null, or leave the field out of the update)"
    case "object": {
      if (value === null || Array.isArray(value)) return undefined
      if (value instanceof Set) return "a Set is not allowed in state: iteration order breaks deterministic replay (use an array)"
      const proto: unknown = Object.getPrototypeOf(value)
      if (proto !== Object.prototype && proto !== null) {
        const name = (value as { constructor?: { name?: string } }).constructor?.name ?? "object"
        return `a ${name} instance is not plain JSON (convert it to a plain object, array or string)`
      }
      return undefined
    }
    default:
      return `a ${typeof value} is not JSON`
  }
}

/** How many levels of nesting the fast check of `checkJson` looks into. */
const SHALLOW = 16

/** True when `value` is plain JSON nested at most `levels` deep (false: not known, walk it). */
const plainWithin = (value: unknown, levels: number): boolean => {
  if (typeof value !== "object" || value === null) return problemOf(value) === undefined
  if (levels === 0 || problemOf(value) !== undefined) return false
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) if (!plainWithin(value[i], levels - 1)) return false
    return true
  }
  for (const key in value) if (!plainWithin((value as { readonly [key: string]: unknown })[key], levels - 1)) return false
  return true
}

/** The path of entry `entry` of `checkJson`'s walk (built only for a problem). */
const pathOf = (path: string, parents: ReadonlyArray<number>, keys: ReadonlyArray<string | number>, entry: number): string => {
  const segments: Array<string> = []
  for (let i = entry; i > 0; i = parents[i]!) {
    const key = keys[i]!
    segments.push(typeof key === "number" ? `[${key}]` : `.${key}`)
  }
  return path + segments.reverse().join("")
}

/**
 * First non-JSON part of `value`, or undefined when it is plain JSON. Walks the value
 * iteratively (no recursion, so a hostile 10,000-deep document cannot overflow the
 * stack) and refuses nesting deeper than `maxDepth`.
 */
export const checkJson = (value: unknown, path: string, maxDepth: number = MAX_JSON_DEPTH): JsonProblem | undefined => {
  if (typeof value !== "object" || value === null) {
    const problem = problemOf(value)
    return problem === undefined ? undefined : { path, message: problem }
  }
  // Small, shallow values (most requests and responses) are answered by a plain recursive
  // check; anything else, or anything it doubts, gets the full walk below.
  if (plainWithin(value, Math.min(maxDepth, SHALLOW))) return undefined
  // Parallel stacks: the value, its depth, and the index of its parent entry plus its
  // key (paths are only built when a problem is found).
  const values: Array<unknown> = [value]
  const depths: Array<number> = [0]
  const parents: Array<number> = [-1]
  const keys: Array<string | number> = [""]
  for (let i = 0; i < values.length; i++) {
    const current = values[i]
    const problem = problemOf(current)
    if (problem !== undefined) return { path: pathOf(path, parents, keys, i), message: problem }
    if (typeof current !== "object" || current === null) continue
    const depth = depths[i]! + 1
    if (depth > maxDepth) {
      return { path: pathOf(path, parents, keys, i), message: `nested more than ${maxDepth} levels deep (flatten the data or store it as a string)` }
    }
    if (Array.isArray(current)) {
      for (let k = 0; k < current.length; k++) {
        values.push(current[k])
        depths.push(depth)
        parents.push(i)
        keys.push(k)
      }
    } else {
      for (const k in current) {
        values.push((current as Record<string, unknown>)[k])
        depths.push(depth)
        parents.push(i)
        keys.push(k)
      }
    }
  }
  return undefined
}

/** How deep {@link plainJsonEqual} compares before it gives up (answers false). */
const EQUAL_DEPTH = 64

/** A plain object: `{…}` or `Object.create(null)`, not a class instance, a `Map` or an object inheriting its fields. */
export const isPlainObject = (value: object): boolean => {
  const proto: unknown = Object.getPrototypeOf(value)
  return proto === Object.prototype || proto === null
}

const plainEqualWithin = (a: unknown, b: unknown, levels: number): boolean => {
  if (typeof a !== "object" || a === null) {
    // A primitive: equal and JSON (one object is walked like two: it may hold non-JSON).
    return a === b && (typeof a === "string" || typeof a === "boolean" || a === null || (typeof a === "number" && Number.isFinite(a)))
  }
  if (typeof b !== "object" || b === null || levels === 0) return false
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false
    for (let i = 0; i < a.length; i++) if (!plainEqualWithin(a[i], b[i], levels - 1)) return false
    return true
  }
  if (Array.isArray(b) || !isPlainObject(a) || !isPlainObject(b)) return false
  const x = a as { readonly [key: string]: unknown }
  const y = b as { readonly [key: string]: unknown }
  let keys = 0
  for (const key in x) {
    if (!Object.hasOwn(y, key) || !plainEqualWithin(x[key], y[key], levels - 1)) return false
    keys++
  }
  for (const _ in y) keys--
  return keys === 0
}

/**
 * True when `a` and `b` are both plain JSON (strings, finite numbers, booleans, null,
 * arrays, plain objects) and equal, so that their canonical texts are equal; false when
 * they differ, and also when either holds anything else (undefined, a class instance)
 * or is nested deeper than it looks: false means "not shown equal", for a caller that
 * then compares canonical texts or hashes. No text is built.
 */
export const plainJsonEqual = (a: unknown, b: unknown): boolean => plainEqualWithin(a, b, EQUAL_DEPTH)

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

/**
 * Hands back the object it is given from its constructor, so that a subclass's private
 * field is installed on that object (a private field is no property: no key, no symbol).
 */
class Target {
  constructor(target: object) {
    return target
  }
}

/**
 * The mark of objects {@link frozenCopy} and {@link freezeShell} froze, with everything
 * inside them: a private field, which JSON, spreads, `Reflect.ownKeys`, Schema's excess
 * property checks and `structuredClone` never see (a copy is unmarked). A mark on the
 * object, not a `WeakSet` of them: every value of every step is marked, and a weak
 * collection that large makes each garbage collection slower. (A symbol-keyed property
 * would be seen by `Reflect.ownKeys`, so Schema would refuse the state as having an
 * unexpected key.)
 */
class DeepFrozen extends Target {
  readonly #deepFrozen = true
  /** Whether `value` carries the mark. */
  static has(value: object): boolean {
    return #deepFrozen in value
  }
  /** Mark `value` deep-frozen (before it is frozen), and freeze it. */
  static mark<A extends object>(value: A): A {
    new DeepFrozen(value)
    return Object.freeze(value)
  }
}

/**
 * A copy of a JSON value (one {@link checkJson} accepted), frozen at every level: what run
 * state is made of, so that a node cannot change the state it reads in place (strict-mode
 * code gets a `TypeError`) and the value a node returned cannot change afterwards through
 * the node's own references. Parts that are already such copies are shared, not copied.
 */
export const frozenCopy = <A>(value: A): A => {
  if (typeof value !== "object" || value === null || DeepFrozen.has(value)) return value
  let copy: object
  if (Array.isArray(value)) {
    const items: Array<unknown> = new Array(value.length)
    for (let i = 0; i < value.length; i++) items[i] = frozenCopy(value[i])
    copy = items
  } else {
    const entries: Record<string, unknown> = {}
    for (const key in value) entries[key] = frozenCopy((value as Record<string, unknown>)[key])
    copy = entries
  }
  return DeepFrozen.mark(copy) as A
}

/**
 * `value` frozen, for an object or array whose members are all already frozen copies (a
 * reducer's new list or merged object): only its own level is frozen.
 */
export const freezeShell = <A>(value: A): A => {
  if (typeof value !== "object" || value === null || DeepFrozen.has(value)) return value
  return DeepFrozen.mark(value)
}
