/**
 * The check of a state against the graph's state schema after writes (a step's node
 * updates): what the run loop runs after every step, and what a counterfactual fork runs
 * on a `node_output_overrides` entry before it writes anything (see
 * `replay/checkMutation.ts`), so that both refuse the same writes.
 */
import * as Either from "effect/Either"
import type * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import { StateValidationError } from "../errors.js"
import { firstIssue } from "../ir/parseIssue.js"
import { declaredAs, type FieldInfo, type State } from "../ir/stateSchema.js"
import type { GraphDefinition } from "./GraphDefinition.js"
import type { NodeWrite } from "./reducers.js"

/** Where a state does not fit its schema. */
export interface StateIssue {
  /** The field path, e.g. `scores` or `scores[0]` (`<state>` for the state as a whole). */
  readonly field: string
  /** The top-level field the path starts at, when it has one. */
  readonly top: string | undefined
  /** The path inside the top-level field (`[0]` for `scores[0]`; empty for the field itself). */
  readonly inside: ReadonlyArray<PropertyKey>
  /** The schema's issue, e.g. `Expected integer, actual "x"`. */
  readonly issue: string
  /** The field's declared type, for an issue with the field itself (a nested part says its own type). */
  readonly takes: string | undefined
}

/** Checks a state after `writes` (which say the fields that changed): its first issue, or undefined when it fits. */
export type StateCheck = (state: State, writes: ReadonlyArray<NodeWrite>) => StateIssue | undefined

const issueOf = (error: ParseResult.ParseError, prefix: ReadonlyArray<PropertyKey>, fields: ReadonlyMap<string, FieldInfo>): StateIssue => {
  const issue = firstIssue(error)
  const path = [...prefix, ...(issue?.path ?? [])]
  const field = path.map((p, i) => (typeof p === "number" ? `[${p}]` : i === 0 ? String(p) : `.${String(p)}`)).join("")
  return {
    field: field || "<state>",
    top: path[0] === undefined ? undefined : String(path[0]),
    inside: path.slice(1),
    issue: issue?.message ?? "invalid",
    takes: path.length === 1 ? declaredAs(fields.get(String(path[0]))) : undefined
  }
}

/**
 * The state check of a graph, built once per graph. Where the compiled schema offers
 * per-field schemas (every inline schema), only the fields the writes name are checked:
 * the others were valid before and did not change. An inline field's plain check passes
 * a valid value without decoding it. Otherwise, and for a write to an undeclared field,
 * the whole state is decoded.
 */
export const stateCheck = (graph: GraphDefinition): StateCheck => {
  const cached = checks.get(graph)
  if (cached) return cached
  const fields = graph.state.fields
  const decodeAll = Schema.decodeUnknownEither(graph.state.schema, { onExcessProperty: "error" })
  const whole: StateCheck = (state) => {
    const result = decodeAll(state)
    return Either.isRight(result) ? undefined : issueOf(result.left, [], fields)
  }
  const schemas = graph.state.fieldSchemas
  const perField = schemas && new Map(
    [...schemas].map(([name, schema]) => [name, Schema.decodeUnknownEither(schema as Schema.Schema<unknown, unknown>, { onExcessProperty: "error" })])
  )
  const plain = graph.state.fieldChecks
  const check: StateCheck = perField === undefined ? whole : (state, writes) => {
    for (const write of writes) {
      for (const key in write.update) {
        if (plain?.get(key)?.(state[key]) === true) continue
        const decode = perField.get(key)
        if (decode === undefined) return whole(state, writes)
        const result = decode(state[key])
        if (Either.isLeft(result)) return issueOf(result.left, [key], fields)
      }
    }
    return undefined
  }
  checks.set(graph, check)
  return check
}

const checks = new WeakMap<GraphDefinition, StateCheck>()

/** Checks the state after a step; the writes say which fields changed. */
export type StateValidator = (state: State, writes: ReadonlyArray<NodeWrite>, step: number) => Either.Either<void, StateValidationError>

/**
 * The run loop's validator of the state after step `step`: {@link stateCheck}, its issue
 * a `node-update` `StateValidationError` naming the node that wrote the field.
 */
export const validateState = (graph: GraphDefinition): StateValidator => {
  const check = stateCheck(graph)
  return (state, writes, step) => {
    const found = check(state, writes)
    if (found === undefined) return Either.void
    const { field, issue, takes, top } = found
    const writer = writes.find((w) => top !== undefined && top in w.update)
    return Either.left(
      new StateValidationError({
        source: "node-update",
        field,
        nodeId: writer?.node,
        step,
        message: `state after step ${step} does not match the state schema: ${issue}${takes !== undefined ? ` ('${field}' is declared ${takes})` : ""}`,
        ...(writer !== undefined ? { fix: `make node '${writer.node}' write ${takes !== undefined ? `a value of '${field}''s declared type (${takes})` : `what the state schema declares at '${field}'`}, or change the field's declaration` } : {})
      })
    )
  }
}
