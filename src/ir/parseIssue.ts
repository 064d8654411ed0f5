/**
 * The first issue of a Schema parse error, as one message a person can act on: where a
 * value matched none of several alternatives (an `enum`'s literals, a nullable field),
 * the formatter lists one issue per alternative; they are folded into one that names
 * them all (`Expected one of "low", "high", actual "medium"`), not just the first
 * (an optional field's `undefined` left out).
 */
import * as ParseResult from "effect/ParseResult"

/** The first issue of `error`, its alternatives at the same path folded in. */
export const firstIssue = (error: ParseResult.ParseError): ParseResult.ArrayFormatterIssue | undefined => {
  const issues = ParseResult.ArrayFormatter.formatErrorSync(error)
  const first = issues[0]
  if (first === undefined) return undefined
  const at = JSON.stringify(first.path)
  const alternatives = issues.filter((i) => JSON.stringify(i.path) === at).map((i) => EXPECTED.exec(i.message))
  if (alternatives.length < 2 || alternatives.some((m) => m === null)) return first
  const actual = alternatives[0]![2]
  if (alternatives.some((m) => m![2] !== actual)) return first
  // An optional field's `undefined` is no value JSON can give: not worth naming.
  const expected = alternatives.map((m) => m![1]).filter((e) => e !== "undefined")
  return { ...first, message: expected.length === 1 ? `Expected ${expected[0]}, actual ${actual}` : `Expected one of ${expected.join(", ")}, actual ${actual}` }
}

const EXPECTED = /^Expected (.+), actual (.+)$/s
