/**
 * The `when` mapping sugar of a rule, compiled to CLIPS patterns:
 * `{node: work, verdict: refine}` → `(node-id (id work)) (verdict (value "refine"))`.
 * The reserved `node` key names the node the rule fires after; every other key is a
 * mirrored state field compared with its mirrored value, written as the literal of the
 * field's type (strings as strings, integers and floats as numbers, booleans as
 * TRUE/FALSE). A string `when` is passed to the engine as written, once it is known to
 * hold conditions only (it becomes the left-hand side of the rule's `defrule`).
 */
import * as Either from "effect/Either"
import type { FieldInfo } from "../ir/stateSchema.js"
import { readAll } from "./clips/reader.js"
import { clipsString } from "./literals.js"

/** The reserved sugar key naming the node. */
export const NODE_KEY = "node"

/** A problem in a `when` mapping, with the key at fault (for the IR path). */
export interface WhenProblem {
  readonly key: string | undefined
  readonly message: string
  readonly fix: string
}

/** What the sugar needs to know about the graph. */
export interface WhenContext {
  readonly nodes: ReadonlySet<string>
  readonly fields: ReadonlyMap<string, FieldInfo>
}

const literal = (value: unknown, field: FieldInfo): string | undefined => {
  switch (field.type) {
    case "integer":
      return typeof value === "number" && Number.isInteger(value) ? String(value) : typeof value === "string" && /^-?\d+$/.test(value) ? value : undefined
    case "number": {
      const n = typeof value === "number" ? value : typeof value === "string" && value.trim() !== "" ? Number(value) : Number.NaN
      return Number.isFinite(n) ? (Number.isInteger(n) ? `${n}.0` : String(n)) : undefined
    }
    case "boolean":
      return value === true || value === "true" || value === "True" ? "TRUE" : value === false || value === "false" || value === "False" ? "FALSE" : undefined
    case "string":
      return typeof value === "string" || typeof value === "number" || typeof value === "boolean" ? clipsString(String(value)) : undefined
    default:
      // A field of an exported Schema: the literal follows the value's own type.
      return typeof value === "string"
        ? clipsString(value)
        : typeof value === "number"
        ? String(value)
        : typeof value === "boolean"
        ? (value ? "TRUE" : "FALSE")
        : undefined
  }
}

/**
 * Why a `when` string is not a list of conditional elements, if it is not: it must read
 * as balanced forms, each a pattern or CE (`(...)`, or `?f <- (...)`), with no `=>`
 * (actions go under `then`), so that it cannot close the rule it is put in.
 */
const conditionsOnly = (text: string): Omit<WhenProblem, "key"> | undefined => {
  const { forms, error } = readAll(text)
  // An unclosed '(' the rule's compiler reports (RuleError parse); a ')' too many would close the rule.
  if (error !== undefined) {
    return error.message.includes("unexpected ')'") ? { message: `${error.message} (line ${error.line} of when)`, fix: "balance the parentheses of the conditions" } : undefined
  }
  for (let k = 0; k < forms.length; k++) {
    const form = forms[k]!
    if (form.kind === "list") continue
    const token = form.token
    if (token.text === "=>") {
      return { message: "when holds the rule's conditions only, and this one has '=>' and actions after it", fix: "write the actions under then (goto, halt, assert, …), and leave only the patterns in when" }
    }
    // `?f <- (pattern)`: a fact address bound to the pattern after it.
    if (token.kind === "sfvar" && forms[k + 1]?.kind === "atom" && (forms[k + 1] as { token: { text: string } }).token.text === "<-" && forms[k + 2]?.kind === "list") {
      k += 2
      continue
    }
    return { message: `when holds patterns and conditional elements, each in parentheses; '${token.text}' is not one`, fix: "write conditions such as (node-id (id work)) (verdict (value \"pass\")), or ?f <- (pattern)" }
  }
  return undefined
}

/** The CLIPS left-hand side for `when`: strings as written, mappings compiled. */
export const compileWhen = (when: string | { readonly [key: string]: unknown }, context: WhenContext): Either.Either<string, WhenProblem> => {
  // An empty string is an empty left-hand side (CLIPS matches it once, after the first node).
  if (typeof when === "string") {
    const problem = conditionsOnly(when)
    return problem === undefined ? Either.right(when) : Either.left({ key: undefined, ...problem })
  }
  const keys = Object.keys(when)
  if (keys.length === 0) {
    return Either.left({ key: undefined, message: "the when mapping is empty", fix: "give a node key and/or mirrored field conditions, e.g. {node: work, verdict: pass}" })
  }
  const patterns: Array<string> = []
  if (NODE_KEY in when) {
    const node = when[NODE_KEY]
    if (typeof node !== "string" || !context.nodes.has(node)) {
      return Either.left({
        key: NODE_KEY,
        message: `when.node ${JSON.stringify(node)} names no node of this graph`,
        fix: `use one of: ${[...context.nodes].slice(0, 10).join(", ")}`
      })
    }
    patterns.push(`(node-id (id ${node}))`)
  }
  for (const key of keys) {
    if (key === NODE_KEY) continue
    const field = context.fields.get(key)
    if (field === undefined) {
      return Either.left({ key, message: `'${key}' is not a state field`, fix: `use 'node' or a mirrored field: ${[...context.fields.values()].filter((f) => f.mirror).map((f) => f.name).join(", ") || "(none)"}` })
    }
    if (!field.mirror) {
      return Either.left({ key, message: `state field '${key}' is not mirrored into the rule engine`, fix: "mirror it (mirror: true; only scalar fields can be compared), or write the condition as a CLIPS test" })
    }
    const value = when[key]
    const text = literal(value, field)
    if (text === undefined) {
      return Either.left({ key, message: `when.${key} must be a ${field.type ?? "scalar"} value to compare with the mirrored field, got ${JSON.stringify(value)}`, fix: `write a ${field.type ?? "scalar"} value` })
    }
    patterns.push(`(${key} (value ${text}))`)
  }
  return Either.right(patterns.join(" "))
}
