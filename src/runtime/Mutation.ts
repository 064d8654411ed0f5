/**
 * `CounterfactualMutation`: what a fork changes at its fork step. Unknown fields are
 * refused; `state_overrides` are validated against the graph's state schema before
 * anything is written.
 */
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import { InputError } from "../errors.js"
import { FactSpec } from "../fathom/facts.js"
import { hashJson } from "../ir/hash.js"
import { firstIssue, objectExpectation } from "../ir/parseIssue.js"


/** The mutation applied at the fork step. */
export const CounterfactualMutation = Schema.Struct({
  /** Fields replaced in the state at the fork step. */
  state_overrides: Schema.optionalWith(Schema.Record({ key: Schema.String, value: Schema.Unknown }), { default: () => ({}) }),
  /** Facts asserted into the fork's working memory at the fork step: `"(risk (level high))"` or `{template, slots}`. */
  facts_assert: Schema.optionalWith(Schema.Array(FactSpec), { default: () => [] }),
  /** Facts retracted from it: a template name, a pattern with literal slots, or `{template, slots}`. */
  facts_retract: Schema.optionalWith(Schema.Array(FactSpec), { default: () => [] }),
  /** Governance pack version(s) the fork runs: `"1.1.0"` for every pack, or `"id@1.1.0,other@2.0"`. */
  rule_pack_version: Schema.optional(Schema.String),
  /** Per node id: an output that replaces the node's execution after the fork step. */
  node_output_overrides: Schema.optionalWith(
    Schema.Record({ key: Schema.String, value: Schema.Record({ key: Schema.String, value: Schema.Unknown }) }),
    { default: () => ({}) }
  )
})
/** The mutation applied at the fork step. */
export type CounterfactualMutation = typeof CounterfactualMutation.Type

/** The empty mutation (a plain replay). */
export const emptyMutation: CounterfactualMutation = { state_overrides: {}, facts_assert: [], facts_retract: [], node_output_overrides: {} }

/** Whether `mutation` changes nothing (the fork is a plain replay). */
export const isEmptyMutation = (mutation: CounterfactualMutation): boolean =>
  Object.keys(mutation.state_overrides).length === 0 && mutation.facts_assert.length === 0 && mutation.facts_retract.length === 0 &&
  mutation.rule_pack_version === undefined && Object.keys(mutation.node_output_overrides).length === 0

/** Decode a mutation, naming the offending field. */
export const decodeMutation = (input: unknown, source = "mutation"): Effect.Effect<CounterfactualMutation, InputError> =>
  Schema.decodeUnknown(CounterfactualMutation, { onExcessProperty: "error" })(input ?? {}).pipe(
    Effect.mapError((error) => {
      const issue = firstIssue(error)
      const path = (issue?.path ?? []).map(String).join(".")
      const top = issue?.path[0]
      return new InputError({
        field: path ? `${source}.${path}` : source,
        message: (issue && objectExpectation(issue)) ?? issue?.message ?? "invalid mutation",
        fix: top === "facts_assert" || top === "facts_retract"
          ? `write each fact as CLIPS text, "(risk (level high))", or as {"template": "risk", "slots": {"level": "high"}}`
          : top === "state_overrides" || top === "node_output_overrides"
          ? `${String(top)} maps ${top === "state_overrides" ? "state fields to their new values" : "node ids to the output ({field: value}) that replaces the node's execution"}`
          : top === "rule_pack_version"
          ? "give a version for every pack (\"1.1.0\") or per pack (\"id@1.1.0,other@2.0\")"
          : "a mutation has only state_overrides, facts_assert, facts_retract, rule_pack_version and node_output_overrides"
      })
    })
  )

/** `derived_hash` = sha256(JCS({parent_graph_hash, fork_step, mutation})). */
export const derivedHash = (parentGraphHash: string, forkStep: number, mutation: CounterfactualMutation): string =>
  hashJson({ parent_graph_hash: parentGraphHash, fork_step: forkStep, mutation })
