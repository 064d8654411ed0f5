/**
 * What a counterfactual mutation can be checked against without its parent run: the
 * graph alone. A fork runs these checks before it writes anything, and `stargraph
 * counterfactual` runs them as a dry run (no database), so a mutation file is known good
 * before any fork is made from it.
 */
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Schema from "effect/Schema"
import { type GraphError, InputError, type RuleError, StateValidationError } from "../errors.js"
import { type Graph, packVersions } from "../graph/Graph.js"
import { checkJson } from "../ir/json.js"
import { listSome } from "../ir/limits.js"
import { firstIssue } from "../ir/parseIssue.js"
import { declaredAs, declaredAt, declaredTypeFix, type State, undeclaredFieldFix } from "../ir/stateSchema.js"
import { RuleEngine } from "../fathom/RuleEngine.js"
import type { CounterfactualMutation } from "../runtime/Mutation.js"
import { applyWrites } from "../runtime/reducers.js"
import { stateCheck } from "../runtime/stateValidator.js"

/** The error for packs a `rule_pack_version` names that cannot be loaded. */
export const packLoadError = (version: string) => (e: { readonly message: string; readonly fix?: string | undefined }): InputError =>
  new InputError({
    field: "mutation.rule_pack_version",
    message: `cannot load the packs at ${version}: ${e.message}`,
    fix: e.fix ?? "name a version that exists beside the graph's packs (id@version, or a version for every pack)"
  })

/** Every `node_output_overrides` key names a node of `graph`. */
export const checkOverriddenNodes = <R>(graph: Graph<R>, mutation: CounterfactualMutation): Effect.Effect<void, InputError> => {
  const unknown = Object.keys(mutation.node_output_overrides).find((nodeId) => !graph.topology.nodes.has(nodeId))
  return unknown === undefined ? Effect.void : Effect.fail(
    new InputError({
      field: `mutation.node_output_overrides.${unknown}`,
      message: `no node '${unknown}' in graph ${graph.id}`,
      fix: `use one of: ${listSome(graph.topology.nodes.keys())}`
    })
  )
}

/**
 * Each `state_overrides` entry names a declared field and, where the graph checks fields
 * one by one (inline schemas), holds a value of its type. `step` is the fork step the
 * error names (the whole state is checked again by the fork, against the step's state).
 */
const checkOverrides = <R>(graph: Graph<R>, mutation: CounterfactualMutation, step: number): Effect.Effect<void, InputError | StateValidationError> =>
  Effect.gen(function*() {
    const overrides = mutation.state_overrides
    const problem = checkJson(overrides, "mutation.state_overrides")
    if (problem) return yield* new InputError({ field: problem.path, message: problem.message, fix: "overrides must be plain JSON" })
    for (const [field, value] of Object.entries(overrides)) {
      const declared = graph.state.fields.get(field)
      if (declared === undefined) {
        return yield* new StateValidationError({
          source: "mutation",
          field,
          step,
          message: `state_overrides field '${field}' is not a state field (the state schema does not declare it)`,
          fix: undeclaredFieldFix(field, graph.state.fields.keys(), "override")
        })
      }
      const schema = graph.state.fieldSchemas?.get(field)
      if (schema === undefined) continue
      const invalid = Either.getLeft(Schema.decodeUnknownEither(schema as Schema.Schema<unknown, unknown>)(value))
      if (invalid._tag === "Some") {
        const as = declaredAs(declared)
        return yield* new StateValidationError({
          source: "mutation",
          field,
          step,
          message: `state_overrides field '${field}' does not fit the state schema: ${firstIssue(invalid.value)?.message ?? "invalid"}`,
          fix: declaredTypeFix(field, as)
        })
      }
    }
  })

/**
 * Each `node_output_overrides` entry is a write its node could make: an override replaces
 * the node's update, so it is merged as the run loop merges one (`applyWrites`: declared
 * fields, plain JSON, a value each field's reducer takes) and the fields it writes are
 * checked with the run loop's own state check (`stateCheck`). `state` is what the writes
 * are merged into: the fork step's state, when known. Without it (a dry run, the graph
 * alone) each written field starts empty (its reducer's empty value), the fields are
 * checked one by one where the graph has per-field schemas (inline schemas), and a
 * `merge` field's type is left to the fork (what it merges into decides it).
 */
export const checkOutputOverrides = <R>(
  graph: Graph<R>,
  mutation: CounterfactualMutation,
  step: number,
  state?: State
): Effect.Effect<void, StateValidationError> =>
  Effect.gen(function*() {
    const fields = graph.state.fields
    const check = state !== undefined || graph.state.fieldSchemas !== undefined ? stateCheck(graph) : undefined
    for (const [nodeId, update] of Object.entries(mutation.node_output_overrides)) {
      const where = `node_output_overrides.${nodeId}`
      const fixFor = (top: string, field = top, inside: ReadonlyArray<PropertyKey> = []): string => {
        const declared = fields.get(top)
        const as = declaredAt(declared, inside)
        return declaredTypeFix(field, as, ` in ${where}`) +
          `${declared !== undefined && declared.reducer !== "replace" && inside.length === 0 ? `, which its reducer (${declared.reducer}) takes` : ""}`
      }
      const writes = [{ node: nodeId, update }]
      const merged = applyWrites(state ?? {}, writes, fields, step)
      if (Either.isLeft(merged)) {
        const e = merged.left
        const top = e.field.split(/[.[]/)[0] ?? e.field
        const undeclared = !fields.has(top)
        return yield* new StateValidationError({
          source: "mutation",
          field: e.field,
          nodeId,
          step,
          message: undeclared
            ? `${where} field '${e.field}' is not a state field (the state schema does not declare it)`
            : `${where} field '${e.field}' is not a write the field takes: ${e.message}`,
          fix: undeclared ? undeclaredFieldFix(top, fields.keys()) : fixFor(top)
        })
      }
      if (check === undefined) continue
      const checked = state !== undefined ? writes : [{ node: nodeId, update: Object.fromEntries(Object.entries(update).filter(([key]) => fields.get(key)?.reducer !== "merge")) }]
      const found = check(merged.right, checked)
      if (found !== undefined) {
        return yield* new StateValidationError({
          source: "mutation",
          field: found.field,
          nodeId,
          step,
          message: `${where} field '${found.field}' does not fit the state schema: ${found.issue}`,
          fix: fixFor(found.top ?? found.field, found.field, found.inside)
        })
      }
    }
  })

/** The facts a mutation asserts or retracts parse against the graph's fact templates. */
const checkFacts = <R>(graph: Graph<R>, mutation: CounterfactualMutation): Effect.Effect<void, InputError | RuleError> =>
  Effect.gen(function*() {
    if (mutation.facts_assert.length === 0 && mutation.facts_retract.length === 0) return
    const engine = yield* RuleEngine
    const session = yield* engine.open(graph.rules)
    const factError = (field: string) => (e: RuleError) =>
      new InputError({ field, message: e.message, fix: "write a fact as CLIPS text, e.g. \"(risk (level high))\", or {template, slots} of a template the graph's rules define" })
    const checked = Effect.gen(function*() {
      // A retraction of a fact that is not there is no error: check its form by asserting it.
      for (const [i, fact] of mutation.facts_retract.entries()) yield* Effect.mapError(session.assert(fact), factError(`mutation.facts_retract[${i}]`))
      for (const [i, fact] of mutation.facts_assert.entries()) yield* Effect.mapError(session.assert(fact), factError(`mutation.facts_assert[${i}]`))
    })
    yield* Effect.ensuring(checked, Effect.sync(() => engine.release(session)))
  })

/**
 * Check `mutation` against `graph` alone: overridden nodes exist, overridden fields and
 * the fields of node output overrides are declared and typed, facts fit the rules' templates, and a `rule_pack_version` loads.
 * Succeeds with the graph the fork would run (another pack version's, or `graph`).
 */
export const checkMutation = <R>(
  graph: Graph<R>,
  mutation: CounterfactualMutation,
  step: number
): Effect.Effect<Graph<R>, InputError | StateValidationError | RuleError | GraphError> =>
  Effect.gen(function*() {
    yield* checkOverriddenNodes(graph, mutation)
    yield* checkOverrides(graph, mutation, step)
    yield* checkOutputOverrides(graph, mutation, step)
    const forkGraph = mutation.rule_pack_version === undefined
      ? graph
      : yield* graph.withPackVersions(packVersions(mutation.rule_pack_version)).pipe(Effect.mapError(packLoadError(mutation.rule_pack_version)))
    yield* checkFacts(forkGraph, mutation)
    return forkGraph
  })
