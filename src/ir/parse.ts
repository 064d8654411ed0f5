/**
 * YAML text → decoded {@link IRDocument}, with every failure reported as an
 * {@link IRValidationError} naming the file, the path inside the IR, the line and a fix.
 */
import * as Either from "effect/Either"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import * as YAML from "yaml"
import { IRValidationError } from "../errors.js"
import { IRDocument } from "./schema.js"

/** Where an IR came from, for error messages and line lookups. */
export interface IRSource {
  readonly file?: string | undefined
  readonly document?: YAML.Document.Parsed | undefined
  readonly lineCounter?: YAML.LineCounter | undefined
}

/** Render a decode path as `nodes[2].kind`. */
export const formatPath = (path: ReadonlyArray<PropertyKey>): string =>
  path.reduce<string>((acc, key) => {
    if (typeof key === "number") return `${acc}[${key}]`
    const k = String(key)
    return acc === "" ? k : `${acc}.${k}`
  }, "")

/** 1-based line of the YAML node at `path`, when the IR came from YAML. */
export const lineOf = (source: IRSource, path: ReadonlyArray<PropertyKey>): number | undefined => {
  const { document, lineCounter } = source
  if (!document || !lineCounter) return undefined
  for (let n = path.length; n >= 0; n--) {
    const node = document.getIn(path.slice(0, n) as Array<string | number>, true)
    if (YAML.isNode(node) && node.range) return lineCounter.linePos(node.range[0]).line
  }
  return undefined
}

/** Build an {@link IRValidationError} located at `path`. */
export const irError = (
  source: IRSource,
  path: ReadonlyArray<PropertyKey>,
  message: string,
  fix: string
): IRValidationError =>
  new IRValidationError({ file: source.file, path: formatPath(path), line: lineOf(source, path), message, fix })

const fixFor = (message: string, path: ReadonlyArray<PropertyKey>): string => {
  if (message.includes("is unexpected")) {
    return `remove the unknown field '${String(path[path.length - 1])}' (unknown fields are rejected)`
  }
  if (message.includes("is missing")) return `add the required field '${String(path[path.length - 1])}'`
  if (formatPath(path).endsWith("kind")) return "use one of the node kinds: set, function, interrupt, noop"
  if (formatPath(path) === "ir_version") return "set ir_version: \"1.0.0\""
  return "correct the value to match the expected type shown"
}

/** Decode an already-parsed JS value as an IR document. */
export const decodeIR = (
  input: unknown,
  source: IRSource = {}
): Either.Either<IRDocument, IRValidationError> => {
  const setField = findSetTypedField(input)
  if (setField) {
    return Either.left(irError(
      source,
      setField,
      "set-valued state fields are not allowed: iteration order is not deterministic, so replay could diverge",
      "declare the field as `type: array` (optionally with `reducer: append`) and keep it sorted or de-duplicated in your node"
    ))
  }
  return Schema.decodeUnknownEither(IRDocument, { onExcessProperty: "error", errors: "all" })(input).pipe(
    Either.mapLeft((error) => {
      const issues = ParseResult.ArrayFormatter.formatErrorSync(error)
      const first = issues[0]
      const path = first?.path ?? []
      const more = issues.length > 1 ? ` (and ${issues.length - 1} more issue${issues.length > 2 ? "s" : ""})` : ""
      const message = (first?.message ?? "invalid IR") + more
      return irError(source, path, message, fixFor(first?.message ?? "", path))
    })
  )
}

/** A decoded IR plus where it came from (for line numbers in later errors). */
export interface ParsedIR {
  readonly ir: IRDocument
  readonly source: IRSource
}

/** Parse YAML text and decode it as an IR document. */
export const parseIR = (text: string, file?: string): Either.Either<ParsedIR, IRValidationError> => {
  const lineCounter = new YAML.LineCounter()
  const document = YAML.parseDocument(text, { lineCounter, uniqueKeys: true, prettyErrors: false })
  const source: IRSource = { file, document, lineCounter }
  const yamlError = document.errors[0]
  if (yamlError) {
    const line = lineCounter.linePos(yamlError.pos[0]).line
    return Either.left(new IRValidationError({
      file,
      path: "",
      line,
      message: `malformed YAML: ${yamlError.message.split("\n")[0]}`,
      fix: "fix the YAML syntax at the line shown (indentation, quoting, duplicate keys)"
    }))
  }
  const value: unknown = document.toJS({ maxAliasCount: 100 })
  if (value === null || typeof value !== "object" || Array.isArray(value)) {
    return Either.left(new IRValidationError({
      file,
      path: "",
      message: "the document is not a mapping",
      fix: "the top level must be a mapping with ir_version, id, state_schema, nodes and edges"
    }))
  }
  return Either.map(decodeIR(value, source), (ir) => ({ ir, source }))
}

const findSetTypedField = (input: unknown): ReadonlyArray<PropertyKey> | undefined => {
  if (!isRecord(input)) return undefined
  const stateSchema = input["state_schema"]
  if (!isRecord(stateSchema) || !isRecord(stateSchema["fields"])) return undefined
  const walk = (spec: unknown, path: ReadonlyArray<PropertyKey>): ReadonlyArray<PropertyKey> | undefined => {
    if (!isRecord(spec)) return undefined
    if (spec["type"] === "set" || spec["type"] === "frozenset") return [...path, "type"]
    const items = walk(spec["items"], [...path, "items"])
    if (items) return items
    if (isRecord(spec["properties"])) {
      for (const [k, v] of Object.entries(spec["properties"])) {
        const found = walk(v, [...path, "properties", k])
        if (found) return found
      }
    }
    return undefined
  }
  for (const [name, spec] of Object.entries(stateSchema["fields"])) {
    const found = walk(spec, ["state_schema", "fields", name])
    if (found) return found
  }
  return undefined
}

const isRecord = (u: unknown): u is Record<string, unknown> =>
  u !== null && typeof u === "object" && !Array.isArray(u)
