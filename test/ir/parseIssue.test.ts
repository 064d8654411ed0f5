import * as Either from "effect/Either"
import * as Schema from "effect/Schema"
import { describe, expect, it } from "vitest"
import { firstIssue } from "../../src/ir/parseIssue.js"

const issueOf = <A, I>(schema: Schema.Schema<A, I>, value: unknown) => {
  const result = Schema.decodeUnknownEither(schema, { onExcessProperty: "error" })(value)
  return Either.isLeft(result) ? firstIssue(result.left) : undefined
}

describe("firstIssue", () => {
  it("names every allowed value of an enum (and null when nullable), not only the first", () => {
    const schema = Schema.Struct({ level: Schema.NullOr(Schema.Literal("low", "high")), n: Schema.Int })
    expect(issueOf(schema, { level: "medium", n: 1 })).toMatchObject({ path: ["level"], message: "Expected one of \"low\", \"high\", null, actual \"medium\"" })
    expect(issueOf(Schema.Union(Schema.String, Schema.Number), true)?.message).toBe("Expected one of string, number, actual true")
    // An optional field: no `undefined` among what it takes.
    expect(issueOf(Schema.Struct({ d: Schema.optional(Schema.String) }), { d: true })?.message).toBe("Expected string, actual true")
    expect(issueOf(Schema.Struct({ d: Schema.optional(Schema.Literal("a", "b")) }), { d: "c" })?.message).toBe("Expected one of \"a\", \"b\", actual \"c\"")
  })

  it("quotes at most the start of a long value, with its length", () => {
    const message = issueOf(Schema.Struct({ ms: Schema.Number }), { ms: "x".repeat(1_500_000) })?.message ?? ""
    expect(message.length).toBeLessThan(300)
    expect(message).toMatch(/^Expected number, actual "x{199}… \(1500002 characters\)$/)
  })

  it("leaves a single issue, and issues at other paths, as they are", () => {
    const schema = Schema.Struct({ level: Schema.Literal("low", "high"), n: Schema.Int })
    expect(issueOf(schema, { level: "low", n: 1.5 })).toMatchObject({ path: ["n"], message: "Expected an integer, actual 1.5" })
    expect(issueOf(schema, { level: "low", n: 1, extra: 1 })?.message).toBe("is unexpected, expected: \"level\" | \"n\"")
  })
})
