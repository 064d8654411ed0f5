/**
 * What `stargraph compile` prints: the IR document an authoring-format graph is lowered
 * to, as YAML, and (for `--show-clips`) each rule as `rule-id: <CLIPS LHS> => <actions>`
 * in YAML comments, so the output stays a YAML document.
 */
import * as Either from "effect/Either"
import { readFileSync } from "node:fs"
import * as YAML from "yaml"
import { compileWhen } from "../fathom/when.js"
import { defaultGraphId, isAuthoring, lowerAuthoring } from "../ir/authoring.js"
import type { IRDocument } from "../ir/schema.js"
import type { FieldInfo } from "../ir/stateSchema.js"

type Rule = IRDocument["rules"][number]

/** A rule's actions as `goto X`, `halt (reason)`, or their kind. */
const actionsOf = (rule: Rule): string =>
  rule.then.map((a) => a.kind === "goto" ? `goto ${a.target}` : a.kind === "halt" ? `halt${a.reason !== undefined ? ` (${a.reason})` : ""}` : a.kind).join(", ") || "(no action)"

/** One line per rule: `rule-id: <CLIPS LHS> => <actions>`. */
export const clipsLines = (ir: IRDocument, fields: ReadonlyMap<string, FieldInfo>): ReadonlyArray<string> => {
  const nodes = new Set(ir.nodes.map((n) => n.id))
  return ir.rules.map((rule) => {
    const lhs = Either.getOrElse(compileWhen(rule.when, { nodes, fields }), () => String(rule.when))
    return `${rule.id}: ${lhs.replace(/\s*\n\s*/g, " ").trim() || "(empty: matches once, after the first node)"} => ${actionsOf(rule)}`
  })
}

/** The built graph: its nodes as decoded, and its rules and field types for `--show-clips`. */
export interface CompiledGraph {
  readonly ir: IRDocument
  readonly state: { readonly fields: ReadonlyMap<string, FieldInfo> }
}

/**
 * The output for the graph file `file`, which has loaded (so it is readable, within the
 * size limit and plain YAML): the lowered IR, or the document as written when it declares
 * `ir_version` (with a note for stderr); and the rules when `showClips`. An authored node's
 * keys its kind takes beside `config` (a `set` node's `values`) are shown there, as the
 * graph decodes and hashes them, so the output is the same graph (the same graph hash).
 */
export const lowered = (file: string, graph: CompiledGraph, showClips: boolean): { readonly text: string; readonly note?: string } => {
  const written: unknown = YAML.parse(readFileSync(file, "utf8"))
  const authoring = isAuthoring(written) ? lowerAuthoring(written, defaultGraphId(file)) : undefined
  const document = authoring !== undefined && Either.isRight(authoring) ? { ...authoring.right.document, nodes: graph.ir.nodes } : written
  const lines = [YAML.stringify(document, { lineWidth: 0 }).trimEnd()]
  if (showClips) lines.push("# rules (CLIPS LHS => actions):", ...clipsLines(graph.ir, graph.state.fields).map((line) => `#   ${line}`))
  return {
    text: lines.join("\n"),
    ...(authoring === undefined ? { note: "note: the graph declares ir_version: it is IR already, printed as written" } : {})
  }
}
