/**
 * Reading a completion: the JSON object in it (bare, or in a fenced ```json block, or
 * between the first `{` and the last `}` of a chatty reply), decoded with the signature's
 * output Schema. Anything else is a problem naming the field at fault; the node turns it
 * into a `ModelOutputError`.
 */
import * as Either from "effect/Either"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"

/** Why a completion could not be read. */
export interface OutputProblem {
  readonly field?: string | undefined
  readonly message: string
}

const FENCE = /```(?:json|JSON)?[ \t]*\r?\n([\s\S]*?)\r?\n?```/

const NOT_JSON: unique symbol = Symbol("not JSON")

/** The JSON value a candidate holds, or `NOT_JSON`. */
const parseCandidate = (candidate: string): unknown => {
  try {
    return JSON.parse(candidate)
  } catch {
    return NOT_JSON
  }
}

const isObject = (value: unknown): value is { readonly [key: string]: unknown } => value !== null && typeof value === "object" && !Array.isArray(value)

/** The JSON object a completion holds. */
export const jsonObject = (completion: string): Either.Either<{ readonly [key: string]: unknown }, OutputProblem> => {
  const text = completion.trim()
  // The candidates in order, each tried only if the ones before it hold no object: the
  // whole text, a fenced block, the span from the first `{` to the last `}`.
  const whole = parseCandidate(text)
  if (isObject(whole)) return Either.right(whole)
  let sawJson: unknown = whole === NOT_JSON ? undefined : whole
  const fenced = FENCE.exec(text)
  if (fenced) {
    const value = parseCandidate(fenced[1]!.trim())
    if (isObject(value)) return Either.right(value)
    if (value !== NOT_JSON) sawJson ??= value
  }
  const first = text.indexOf("{")
  const last = text.lastIndexOf("}")
  if (first >= 0 && last > first) {
    const value = parseCandidate(text.slice(first, last + 1))
    if (isObject(value)) return Either.right(value)
    if (value !== NOT_JSON) sawJson ??= value
  }
  if (text === "") return Either.left({ message: "the completion is empty" })
  return Either.left({
    message: sawJson !== undefined
      ? `the completion is JSON but not an object (${Array.isArray(sawJson) ? "an array" : typeof sawJson})`
      : "the completion is not a JSON object"
  })
}

/**
 * A decoder of completions with the outputs' Schema (compile it once per node). `shortcut`,
 * when given, reads the object first: what it returns is what the Schema decodes the
 * object to, and undefined sends the object to the Schema (which then also says what is
 * wrong with it).
 */
export const completionDecoder = <A, I>(
  schema: Schema.Schema<A, I>,
  shortcut?: (object: { readonly [key: string]: unknown }) => A | undefined
): (completion: string) => Either.Either<A, OutputProblem> => {
  const decode = Schema.decodeUnknownEither(schema, { errors: "first" })
  return (completion) => {
    const object = jsonObject(completion)
    if (Either.isLeft(object)) return Either.left(object.left)
    const quick = shortcut?.(object.right)
    if (quick !== undefined) return Either.right(quick)
    const decoded = decode(object.right)
    return Either.isRight(decoded) ? decoded : Either.left(problemOf(decoded.left))
  }
}

/** What a decode error says, at the first field at fault. */
const problemOf = (error: ParseResult.ParseError): OutputProblem => {
  const [issue] = ParseResult.ArrayFormatter.formatErrorSync(error)
  const field = issue?.path[0] === undefined ? undefined : String(issue.path[0])
  const message = issue === undefined
    ? error.message
    : issue._tag === "Missing" ? `the reply has no '${field}'` : `'${issue.path.map(String).join(".")}': ${issue.message}`
  return { field, message }
}

/** Decode a completion with the outputs' Schema. */
export const decodeCompletion = <A, I>(completion: string, schema: Schema.Schema<A, I>): Either.Either<A, OutputProblem> =>
  completionDecoder(schema)(completion)
