/**
 * The first issue of a Schema parse error, as one message a person can act on: where a
 * value matched none of several alternatives (an `enum`'s literals, a nullable field),
 * the formatter lists one issue per alternative; they are folded into one that names
 * them all (`Expected one of "low", "high", actual "medium"`), not just the first
 * (an optional field's `undefined` left out). The value it quotes is cut short.
 */
import * as ParseResult from "effect/ParseResult"

/** The first issue of `error`, its alternatives at the same path folded in, the value it quotes clipped. */
export const firstIssue = (error: ParseResult.ParseError): ParseResult.ArrayFormatterIssue | undefined => {
  const folded = foldAlternatives(ParseResult.ArrayFormatter.formatErrorSync(error))
  return folded === undefined ? undefined : { ...folded, message: clipActual(folded.message) }
}

/**
 * A `StateValidationError` message that names its field: `inputs field 'amount' is
 * missing`, `inputs field 'log.0': Expected string, actual 1` (the issue's message after
 * the field, a colon before one that is not an `is …` phrase).
 */
export const fieldProblem = (where: string, field: string, problem: string): string =>
  `${where} field '${field}'${problem.startsWith("is ") ? " " : ": "}${problem}`

/** Longest quoted value an issue keeps (a request's field may be megabytes; the error is not the place to echo it). */
const MAX_ACTUAL = 200

/** `…, actual <value>` with a long value cut to its start and its length. */
const clipActual = (message: string): string => {
  const at = message.lastIndexOf(", actual ")
  if (at < 0) return message
  const actual = message.slice(at + ", actual ".length)
  return actual.length <= MAX_ACTUAL ? message : `${message.slice(0, at)}, actual ${actual.slice(0, MAX_ACTUAL)}… (${actual.length} characters)`
}

const foldAlternatives = (issues: ReadonlyArray<ParseResult.ArrayFormatterIssue>): ParseResult.ArrayFormatterIssue | undefined => {
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

/** Expectations that name a value other than an object: a type keyword or an array. */
const NOT_OBJECT = /^(?:string|number|boolean|bigint|symbol|undefined|null|object|unknown|never|any|void)$|^one of |^(?:Readonly)?Array<|^readonly \[|\[\]$/

/** A JSON value as quoted by an issue (`null`, `"x"`, `[1]`, `42`), as a person names its kind. */
const kindOfQuoted = (actual: string): string =>
  actual === "null" ? "null"
  : actual.startsWith("\"") ? "a string"
  : actual.startsWith("[") ? "an array"
  : actual.startsWith("{") ? "an object"
  : actual === "true" || actual === "false" ? "a boolean"
  : /^-?[0-9]/.test(actual) ? "a number"
  : actual

/**
 * A type issue whose expectation is an object schema's name (`Expected CreateRunBody`,
 * `Expected Struct (Encoded side)`, `Expected { readonly [x: string]: unknown }`, a field's
 * description), said in JSON's terms: `expected a JSON object, got a string`. Undefined
 * for any other issue: a literal (a status), a type keyword (`Expected string`), an array,
 * a refinement (`Expected an integer`) keep their own message.
 */
export const objectExpectation = (issue: { readonly _tag: string; readonly message: string }): string | undefined => {
  const m = EXPECTED.exec(issue.message)
  if (issue._tag !== "Type" || m === null || m[1]!.startsWith("\"") || NOT_OBJECT.test(m[1]!)) return undefined
  return `expected a JSON object, got ${kindOfQuoted(m[2]!)}`
}
