/**
 * Parsing of `--inputs` (and `--response`) values. `key=value` pairs are typed by the
 * declared field type: string fields take the text as is, boolean fields also the original's
 * words (`yes`/`no`, `y`/`n`, `1`/`0`), every other type must be valid JSON (`count=3`,
 * `tags=["a","b"]`). A JSON object (`--inputs '{"a":1}'`) is also accepted. `--response`
 * is JSON text, or `@<path>` for a file holding it.
 */
import * as Either from "effect/Either"
import { readFileSync, statSync } from "node:fs"
import { InputError } from "../errors.js"
import type { FieldInfo } from "../ir/stateSchema.js"
import { didYouMean } from "../ir/didYouMean.js"

export { flatZeroInputs } from "../ir/stateSchema.js"

const parseJson = (text: string, field: string, fix: string): Either.Either<unknown, InputError> => {
  try {
    return Either.right(JSON.parse(text))
  } catch (e) {
    return Either.left(new InputError({ field, message: `not valid JSON: ${e instanceof Error ? e.message : String(e)}`, fix }))
  }
}

const BOOLEAN_WORDS = new Map([["true", true], ["yes", true], ["y", true], ["1", true], ["false", false], ["no", false], ["n", false], ["0", false]])

/**
 * Turn the repeated `--inputs` values into one state object (`flag`: the flag they came
 * with, named in errors; `update-state` parses its `--set` values the same way).
 */
export const parseInputs = (
  values: ReadonlyArray<string>,
  fields: ReadonlyMap<string, FieldInfo>,
  flag = "--inputs"
): Either.Either<Record<string, unknown>, InputError> => {
  const out: Record<string, unknown> = {}
  // A field given twice is a mistake to report, not one value to drop.
  const twice = (key: string) =>
    new InputError({ field: `${flag} ${key}`, message: `'${key}' is given more than once`, fix: `give '${key}' once (the ${flag} flags and JSON objects together set each field once)` })
  for (const raw of values) {
    const text = raw.trim()
    if (text.startsWith("{")) {
      const parsed = parseJson(text, flag, `pass a JSON object, e.g. ${flag} '{"message":"hello"}'`)
      if (Either.isLeft(parsed)) return Either.left(parsed.left)
      if (parsed.right === null || typeof parsed.right !== "object" || Array.isArray(parsed.right)) {
        return Either.left(new InputError({ field: flag, message: "a JSON value here must be an object", fix: `pass ${flag} '{"field": value}'` }))
      }
      // `Object.assign` would set the prototype with it, silently dropping it: refused as any key that is not a field.
      if (Object.hasOwn(parsed.right, "__proto__")) {
        return Either.left(new InputError({
          field: `${flag} __proto__`,
          message: "'__proto__' is not a state field (it names an object's prototype in JavaScript, and would be dropped)",
          fix: `leave it out; the state fields are: ${[...fields.keys()].join(", ")}`
        }))
      }
      const repeated = Object.keys(parsed.right).find((k) => Object.hasOwn(out, k))
      if (repeated !== undefined) return Either.left(twice(repeated))
      Object.assign(out, parsed.right)
      continue
    }
    const eq = raw.indexOf("=")
    if (eq <= 0) {
      return Either.left(new InputError({
        field: flag,
        message: `'${raw}' is not key=value`,
        fix: `write ${flag} field=value (repeat the flag for more fields) or ${flag} '{"field": value}'`
      }))
    }
    const key = raw.slice(0, eq).trim()
    const value = raw.slice(eq + 1)
    if (Object.hasOwn(out, key)) return Either.left(twice(key))
    const field = fields.get(key)
    if (field === undefined) {
      return Either.left(new InputError({
        field: `${flag} ${key}`,
        message: `'${key}' is not a state field`,
        fix: `${didYouMean(key, [...fields.keys()])}use one of: ${[...fields.keys()].join(", ")}`
      }))
    }
    if (field.type === "string") {
      out[key] = value
      continue
    }
    // The original's CLI words for a boolean, any case: true/false, yes/no, y/n, 1/0.
    const word = field.type === "boolean" ? BOOLEAN_WORDS.get(value.trim().toLowerCase()) : undefined
    if (word !== undefined) {
      out[key] = word
      continue
    }
    const parsed = parseJson(value, `${flag} ${key}`, `'${key}' has type ${field.type ?? "json"}: pass a JSON value, e.g. ${key}=${exampleFor(field)}`)
    if (Either.isLeft(parsed)) {
      // Fields of unknown type (module schemas) fall back to text only when the text is not JSON.
      if (field.type === undefined) {
        out[key] = value
        continue
      }
      return Either.left(parsed.left)
    }
    out[key] = parsed.right
  }
  return Either.right(out)
}

const exampleFor = (field: FieldInfo): string => {
  switch (field.type) {
    case "integer":
    case "number":
      return "3"
    case "boolean":
      return "true"
    case "array":
      return "'[\"a\",\"b\"]'"
    case "object":
      return "'{\"k\":1}'"
    default:
      return "'\"text\"'"
  }
}

const RESPONSE_FORMS = "a string quoted, --response '\"approve\"', a number --response 3, an object --response '{\"approved\":true}', or @file to read it from a JSON file, --response @answer.json"

/** Why a file given on the command line (`--response @file`, `--mutation file`) could not be read, in words. */
export const unreadable = (path: string, cause: unknown): string => {
  const code = cause !== null && typeof cause === "object" && "code" in cause ? cause.code : undefined
  return code === "ENOENT"
    ? `there is no file ${path}`
    : code === "EISDIR"
    ? `${path} is a folder, not a file`
    : code === "EACCES" || code === "EPERM"
    ? `${path} cannot be read (permission denied)`
    : `cannot read ${path}: ${cause instanceof Error ? cause.message : String(cause)}`
}

/**
 * Parse `--response`: JSON text, or `@<path>` for a file holding the JSON (the original's
 * CLI takes a file: `--response @approve.json`). Any other value is JSON; a value that is
 * not JSON but names an existing file is refused with the `@` spelling as the fix.
 */
export const parseResponse = (text: string): Either.Either<unknown, InputError> => {
  if (text.startsWith("@")) {
    const path = text.slice(1)
    if (path === "") {
      return Either.left(new InputError({ field: "--response", message: "'@' names no file", fix: "pass --response @path/to/answer.json (the file holds the answer as JSON), or the JSON itself" }))
    }
    let content: string
    try {
      content = readFileSync(path, "utf8")
    } catch (cause) {
      return Either.left(new InputError({
        field: "--response",
        message: `${unreadable(path, cause)} (--response @${path} reads the answer from that file)`,
        fix: `pass --response @<path of a readable JSON file> (relative to ${process.cwd()}), or the answer itself as JSON, e.g. --response '{"approved":true}'`
      }))
    }
    return parseJson(content, "--response", `write the answer in ${path} as one JSON value of the answer's type, e.g. {"approved": true} or "approve"`).pipe(
      Either.mapLeft((e) => new InputError({ field: e.field, message: `${path} (given as --response @${path}) is ${e.message}`, fix: e.fix }))
    )
  }
  const parsed = parseJson(text, "--response", `pass JSON of the answer's type: ${RESPONSE_FORMS}`)
  if (Either.isLeft(parsed) && isFile(text)) {
    return Either.left(new InputError({
      field: "--response",
      message: `'${text}' is not JSON; --response takes the answer as JSON text, and a file only with @`,
      fix: `to answer with the JSON in the file ${text}, pass --response ${shellWord(`@${text}`)}`
    }))
  }
  return parsed
}

const isFile = (path: string): boolean => {
  try {
    return statSync(path).isFile()
  } catch {
    return false
  }
}

/** `text` as one shell word. */
const shellWord = (text: string): string => (/^[A-Za-z0-9_./:@%+=,-]+$/.test(text) ? text : `'${text.replaceAll("'", "'\\''")}'`)
