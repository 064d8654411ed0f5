import * as Either from "effect/Either"
import { describe, expect, it } from "vitest"
import { parseInputs } from "../../src/cli/inputs.js"
import type { FieldInfo } from "../../src/ir/stateSchema.js"

const fields = new Map([["request", { name: "request", type: "string" }]]) as unknown as ReadonlyMap<string, FieldInfo>

describe("--inputs", () => {
  it("refuses a JSON object with a '__proto__' key instead of dropping it", () => {
    const parsed = parseInputs(['{"request":"x","__proto__":{"a":1}}'], fields)
    expect(Either.isLeft(parsed) && parsed.left).toMatchObject({ _tag: "InputError", field: "--inputs __proto__", fix: "leave it out; the state fields are: request" })
    // Without it, the object is taken as it is.
    expect(parseInputs(['{"request":"x"}'], fields)).toEqual(Either.right({ request: "x" }))
  })
})
