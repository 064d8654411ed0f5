/**
 * The plain field checks against the Effect Schema they stand in front of: whatever a
 * check passes, the Schema accepts and decodes to the same JSON text (key order
 * included); the initial state built without the Schema is the one the Schema decodes.
 * Differential, over generated values and a set of field declarations.
 */
import { describe, expect, it } from "@effect/vitest"
import * as Either from "effect/Either"
import * as Schema from "effect/Schema"
import { fieldCheck } from "../../src/ir/fieldCheck.js"
import type { FieldSpec } from "../../src/ir/schema.js"
import { compileInline } from "../../src/ir/stateSchema.js"

/** A small deterministic PRNG (mulberry32), so a failure reproduces. */
const prng = (seed: number) => () => {
  seed = (seed + 0x6d2b79f5) | 0
  let t = Math.imul(seed ^ (seed >>> 15), 1 | seed)
  t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296
}

const KEYS = ["a", "b", "c", "n", "tags", "x"]
const value = (random: () => number, depth = 0): unknown => {
  const pick = Math.floor(random() * (depth > 2 ? 8 : 11))
  switch (pick) {
    case 0: return ["", "low", "high", "x"][Math.floor(random() * 4)]
    case 1: return Math.floor(random() * 7) - 3
    case 2: return random() * 10
    case 3: return [Number.MAX_SAFE_INTEGER + 2, 1e300, -0, 0.5][Math.floor(random() * 4)]
    case 4: return random() < 0.5
    case 5: return null
    case 6: return 2
    case 7: return "low"
    case 8:
    case 9: return Array.from({ length: Math.floor(random() * 4) }, () => value(random, depth + 1))
    default: {
      const o: Record<string, unknown> = {}
      for (const k of KEYS) if (random() < 0.35) o[k] = value(random, depth + 1)
      return o
    }
  }
}

const specs: Record<string, FieldSpec> = {
  string: { type: "string" },
  integer: { type: "integer" },
  number: { type: "number" },
  boolean: { type: "boolean" },
  any: { type: "any" },
  nullableInt: { type: "integer", nullable: true },
  enumString: { type: "string", enum: ["low", "high"] },
  enumNumber: { type: "integer", enum: [1, 2, 3], nullable: true },
  array: { type: "array" },
  arrayOfInt: { type: "array", items: { type: "integer" } },
  arrayOfArrays: { type: "array", items: { type: "array", items: { type: "string", nullable: true } } },
  object: { type: "object" },
  struct: { type: "object", properties: { a: { type: "string" }, n: { type: "integer", required: true }, tags: { type: "array", items: { type: "string" } } } },
  structWithDefault: { type: "object", properties: { a: { type: "string", default: "d" }, b: { type: "boolean" } } },
  nested: { type: "object", nullable: true, properties: { x: { type: "object", properties: { c: { type: "number" } } }, b: { type: "any" } } }
}

describe("fieldCheck", () => {
  it("passes only values the field's Schema accepts and decodes unchanged", () => {
    const compiled = compileInline(specs)
    if (Either.isLeft(compiled)) throw new Error(compiled.left.message)
    const random = prng(7)
    const passed = new Map<string, number>()
    for (const [name, spec] of Object.entries(specs)) {
      const check = fieldCheck(spec)
      const decode = Schema.decodeUnknownEither(compiled.right.fieldSchemas!.get(name) as Schema.Schema<unknown, unknown>, { onExcessProperty: "error" })
      for (let i = 0; i < 4000; i++) {
        const v = value(random)
        if (!check(v)) continue
        passed.set(name, (passed.get(name) ?? 0) + 1)
        const decoded = decode(v)
        expect(Either.isRight(decoded), `${name}: ${JSON.stringify(v)}`).toBe(true)
        expect(JSON.stringify(Either.getOrThrow(decoded)), `${name}: ${JSON.stringify(v)}`).toBe(JSON.stringify(v))
      }
    }
    // The checks are useful, not only safe: every field's valid values get through.
    for (const name of Object.keys(specs)) expect(passed.get(name) ?? 0, name).toBeGreaterThan(0)
  })

  it("passes valid values of every shape", () => {
    expect(fieldCheck(specs["struct"]!)({ n: 1, tags: ["a"] })).toBe(true)
    expect(fieldCheck(specs["structWithDefault"]!)({ a: "x" })).toBe(true)
    expect(fieldCheck(specs["nested"]!)({ x: { c: 1.5 }, b: [1] })).toBe(true)
    expect(fieldCheck(specs["nested"]!)(null)).toBe(true)
    expect(fieldCheck(specs["arrayOfArrays"]!)([["a", null], []])).toBe(true)
    expect(fieldCheck(specs["enumNumber"]!)(2)).toBe(true)
  })

  it("asks the Schema where it would fill in or refuse", () => {
    expect(fieldCheck(specs["structWithDefault"]!)({ b: true })).toBe(false)
    expect(fieldCheck(specs["struct"]!)({ a: "x" })).toBe(false)
    expect(fieldCheck(specs["struct"]!)({ n: 1, extra: 1 })).toBe(false)
    expect(fieldCheck(specs["integer"]!)(1.5)).toBe(false)
    expect(fieldCheck(specs["integer"]!)(Number.MAX_SAFE_INTEGER + 2)).toBe(false)
    expect(fieldCheck(specs["number"]!)(Number.POSITIVE_INFINITY)).toBe(false)
    expect(fieldCheck(specs["object"]!)([])).toBe(false)
    expect(fieldCheck(specs["object"]!)(new Date(0))).toBe(false)
    expect(fieldCheck(specs["enumString"]!)("medium")).toBe(false)
  })
})

describe("initialState", () => {
  it("builds the state the Schema decodes from the same inputs, or leaves it to the Schema", () => {
    const fields: Record<string, FieldSpec> = {
      counter: { type: "integer", default: 0 },
      log: { type: "array", items: { type: "string" }, default: [] },
      label: { type: "string", enum: ["low", "high"] },
      config: { type: "object", properties: { a: { type: "string" }, n: { type: "integer" } }, default: { a: "x" } },
      required: { type: "boolean", required: true },
      extra: { type: "any", nullable: true }
    }
    const compiled = compileInline(fields)
    if (Either.isLeft(compiled)) throw new Error(compiled.left.message)
    const { initialState, schema } = compiled.right
    const decode = Schema.decodeUnknownEither(schema, { onExcessProperty: "error" })
    const random = prng(11)
    let built = 0
    for (let i = 0; i < 6000; i++) {
      const inputs: Record<string, unknown> = {}
      // Given in a shuffled order, sometimes with an undeclared key.
      for (const k of [...Object.keys(fields), "undeclared"].sort(() => random() - 0.5)) {
        if (random() < 0.5) inputs[k] = random() < 0.5 ? value(random) : k === "required" ? random() < 0.5 : k === "counter" ? 3 : k === "log" ? ["a"] : k === "label" ? "low" : null
      }
      const state = initialState!(inputs)
      if (state === undefined) continue
      built++
      const decoded = decode(inputs)
      expect(Either.isRight(decoded), JSON.stringify(inputs)).toBe(true)
      expect(JSON.stringify(state), JSON.stringify(inputs)).toBe(JSON.stringify(Either.getOrThrow(decoded)))
    }
    expect(built).toBeGreaterThan(100)
  })

  it("gives each run its own copy of a default", () => {
    const compiled = compileInline({ log: { type: "array", items: { type: "string" }, default: [] } })
    if (Either.isLeft(compiled)) throw new Error(compiled.left.message)
    const first = compiled.right.initialState!({})!
    const second = compiled.right.initialState!({})!
    expect(first["log"]).toEqual([])
    expect(first["log"]).not.toBe(second["log"])
  })
})
