import { canonicalJson, canonicalPlainJson } from "../../src/ir/hash.js"
import { describe, expect, it } from "vitest"
import { checkJson, MAX_JSON_DEPTH } from "../../src/ir/json.js"

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
