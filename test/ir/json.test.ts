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
