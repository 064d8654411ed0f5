import * as Either from "effect/Either"
import * as Schema from "effect/Schema"
import { canonicalJson, canonicalPlainJson } from "../../src/ir/hash.js"
import { describe, expect, it } from "vitest"
import { checkJson, freezeShell, frozenCopy, MAX_JSON_DEPTH, plainJsonEqual } from "../../src/ir/json.js"

const nested = (depth: number): unknown => {
  let value: unknown = "leaf"
  for (let i = 0; i < depth; i++) value = i % 2 === 0 ? { k: value } : [value]
  return value
}

describe("checkJson", () => {
  it("accepts plain JSON and names the first non-JSON part by path", () => {
    expect(checkJson({ a: [1, "x", { b: null, c: true }] }, "state")).toBeUndefined()
    expect(checkJson({ a: [1, { b: Number.NaN }] }, "state")).toEqual({ path: "state.a[1].b", message: "NaN is not a JSON number" })
    expect(checkJson({ s: new Set([1]) }, "u")?.message).toMatch(/Set is not allowed/)
    expect(checkJson({ d: new Date(0) }, "u")?.message).toMatch(/Date instance/)
    expect(checkJson(undefined, "x")?.message).toMatch(/undefined is not JSON/)
  })

  it("refuses a 10,000-deep document with a typed problem instead of overflowing the stack", () => {
    const problem = checkJson(nested(10_000), "params")
    expect(problem?.message).toMatch(new RegExp(`nested more than ${MAX_JSON_DEPTH} levels`))
    expect(problem?.path.startsWith("params")).toBe(true)
    expect(checkJson(nested(MAX_JSON_DEPTH - 1), "params")).toBeUndefined()
  })
})

describe("canonicalPlainJson", () => {
  it("is byte-for-byte the RFC 8785 form canonicalJson gives, for plain JSON values", () => {
    const values: ReadonlyArray<unknown> = [
      null, true, 0, -0, 1e21, 1e-7, 123.456, "", "é😀\u2028\u0000\"\\", [], {},
      { b: [1, { d: 2, c: [3, "4"] }], a: { "é": 1, "e": 2, "\u00e9a": 3, "10": 4, "9": 5, "\ud83d\ude00": 6, "\uff61": 7 } },
      { skipped: undefined, kept: null, nested: [[[]]], n: -1.5e-300 }
    ]
    for (const v of values) expect(canonicalPlainJson(v)).toBe(canonicalJson(v))
  })
})

describe("plainJsonEqual", () => {
  /** A small random JSON value (numbers include -0 and fractions; keys repeat across values). */
  const random = (seed: { n: number }, depth: number): unknown => {
    const next = () => (seed.n = (seed.n * 1103515245 + 12345) % 2147483648) / 2147483648
    const kind = Math.floor(next() * (depth > 3 ? 4 : 6))
    switch (kind) {
      case 0: return [null, true, false][Math.floor(next() * 3)]
      case 1: return [0, -0, 1, 1.5, -2e-7, 1e21][Math.floor(next() * 6)]
      case 2: return ["", "a", "b", "é😀"][Math.floor(next() * 4)]
      case 3: return Math.floor(next() * 3)
      case 4: return Array.from({ length: Math.floor(next() * 3) }, () => random(seed, depth + 1))
      default: {
        const out: Record<string, unknown> = {}
        for (let i = Math.floor(next() * 3); i > 0; i--) out[["a", "b", "c"][Math.floor(next() * 3)]!] = random(seed, depth + 1)
        return out
      }
    }
  }

  it("says equal exactly when the canonical texts are equal, for plain JSON values", () => {
    const seed = { n: 7 }
    let equal = 0
    for (let i = 0; i < 20_000; i++) {
      const a = random(seed, 0)
      const b = random(seed, 0)
      const same = canonicalJson(a) === canonicalJson(b)
      expect(plainJsonEqual(a, b)).toBe(same)
      expect(plainJsonEqual(a, JSON.parse(JSON.stringify(a)))).toBe(true)
      if (same && typeof a === "object" && a !== null && a !== b) equal++
    }
    // The corpus holds equal arrays and objects that are not the same object, not only different ones.
    expect(equal).toBeGreaterThan(100)
  })

  it("ignores key order and -0, as the canonical text does", () => {
    expect(plainJsonEqual({ a: 1, b: [0, { c: "x", d: null }] }, { b: [-0, { d: null, c: "x" }], a: 1 })).toBe(true)
    expect(plainJsonEqual(Object.assign(Object.create(null) as object, { a: 1 }), { a: 1 })).toBe(true)
  })

  it("answers false for anything it cannot show equal: non-JSON values, missing keys, deep nesting", () => {
    expect(plainJsonEqual({ d: new Date(0) }, { d: {} })).toBe(false)
    expect(plainJsonEqual({ a: undefined }, {})).toBe(false)
    expect(plainJsonEqual({}, { a: undefined })).toBe(false)
    expect(plainJsonEqual(Number.NaN, Number.NaN)).toBe(false)
    expect(plainJsonEqual(Number.POSITIVE_INFINITY, Number.POSITIVE_INFINITY)).toBe(false)
    expect(plainJsonEqual([1, 2], { 0: 1, 1: 2 })).toBe(false)
    expect(plainJsonEqual(new Float32Array([1]), [1])).toBe(false)
    // The same object is walked like two: it may hold something that is not JSON.
    const dated = { at: new Date(0) }
    expect(plainJsonEqual(dated, dated)).toBe(false)
    const holey = { f: () => 1, n: 1n }
    expect(plainJsonEqual(holey, holey)).toBe(false)
    const plain = { a: [1, "x", null, true] }
    expect(plainJsonEqual(plain, plain)).toBe(true)
    expect(plainJsonEqual(nested(64), nested(64))).toBe(true)
    expect(plainJsonEqual(nested(65), nested(65))).toBe(false)
  })
})

describe("frozenCopy", () => {
  it("copies and freezes every level, shares what it froze before, and its mark never shows", () => {
    const given = { a: [1, { b: "x" }], c: { d: null } }
    const copy = frozenCopy(given)
    expect(copy).not.toBe(given)
    expect(Object.isFrozen(copy) && Object.isFrozen(copy.a) && Object.isFrozen(copy.a[1]) && Object.isFrozen(copy.c)).toBe(true)
    expect(Object.isFrozen(given)).toBe(false)
    // Already a frozen copy: shared, at every level.
    expect(frozenCopy(copy)).toBe(copy)
    expect(frozenCopy({ wrap: copy }).wrap).toBe(copy)
    // The mark is invisible to JSON, keys (symbols too), spreads, structuredClone and
    // Schema's check for unexpected keys (a run's state is checked so, e.g. a thread's).
    expect(JSON.stringify(copy)).toBe(JSON.stringify(given))
    expect(Reflect.ownKeys(copy)).toEqual(["a", "c"])
    expect(Reflect.ownKeys(copy.a[1] as object)).toEqual(["b"])
    const shape = Schema.Struct({ a: Schema.Array(Schema.Unknown), c: Schema.Struct({ d: Schema.Null }) })
    expect(Either.isRight(Schema.decodeUnknownEither(shape, { onExcessProperty: "error" })(copy))).toBe(true)
    expect(structuredClone(copy)).toEqual(given)
    // A spread of a frozen copy is a new, mutable object: copied again, not taken as frozen.
    const spread = { ...copy }
    const again = frozenCopy(spread)
    expect(again).not.toBe(spread)
    expect(Object.isFrozen(again)).toBe(true)
    expect(again.a).toBe(copy.a)
    // Frozen by someone else is not enough: its inner levels may still change.
    const shallow = Object.freeze({ inner: { n: 1 } })
    const fromShallow = frozenCopy(shallow)
    expect(fromShallow).not.toBe(shallow)
    expect(Object.isFrozen(fromShallow.inner)).toBe(true)
  })

  it("freezeShell freezes one level and marks it, so a later frozenCopy shares it", () => {
    const list = freezeShell([frozenCopy({ k: 1 })])
    expect(Object.isFrozen(list)).toBe(true)
    expect(frozenCopy(list)).toBe(list)
  })
})
