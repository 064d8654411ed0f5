/**
 * `subgraph` (the spec's `SubgraphNode`): runs another graph as a child run of the step.
 * `spec` is the child graph's YAML path; `config.inputs` maps child fields to parent
 * fields and `config.outputs` parent fields to child fields (unmapped fields go by shared
 * name, as in the original). The child is its own run, checkpointed step by step and
 * linked to the parent step; an interrupt inside it stops the parent in `awaiting-input`
 * and the answer reaches the child. The child's outcome is recorded in the parent step's
 * cassette, so replays and forks through the node are exact; its graph hash is folded
 * into the parent's.
 */
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Schema from "effect/Schema"
import { StateValidationError } from "../../errors.js"
import { canonicalPlainJson } from "../../ir/hash.js"
import { jsonEqual } from "../../ir/json.js"
import { addMessages, messagesDelta } from "../../ir/messagesReducer.js"
import type { FieldInfo, State } from "../../ir/stateSchema.js"
import { Unrecorded } from "../calls.js"
import type { ChildGraph, ChildOutcome } from "../ChildGraph.js"
import type { NodeInput, NodeOutcome } from "../Executor.js"
import * as NodeKind from "../NodeKind.js"

const FieldMap = Schema.Record({ key: Schema.String, value: Schema.String })

/** A child run that stopped for input (not a result: nothing is recorded for it). */
interface ChildWaiting {
  readonly _tag: "ChildWaiting"
  readonly [Unrecorded]: true
  readonly outcome: Extract<ChildOutcome, { _tag: "Waiting" }>
}

/** The `subgraph` kind. */
export const SubgraphKind = NodeKind.make({
  name: "subgraph",
  summary: "Runs another graph (spec: its YAML path) as a linked, checkpointed child run; config maps fields in and out.",
  fields: {
    spec: Schema.String,
    config: Schema.optional(Schema.Struct({
      /** Child field → parent field. */
      inputs: Schema.optional(FieldMap),
      /** Parent field → child field. */
      outputs: Schema.optional(FieldMap),
      max_steps: Schema.optional(Schema.Int.pipe(Schema.between(1, 1_000_000)))
    }))
  },
  stops: "may-ask-for-input",
  check: (node, ctx) => {
    for (const [child, parent] of Object.entries(node.config?.inputs ?? {})) {
      if (!ctx.fields.has(parent)) {
        return { path: ["config", "inputs", child], message: `inputs reads undeclared parent field '${parent}'`, fix: `map '${child}' to one of: ${ctx.declared}` }
      }
    }
    for (const parent of Object.keys(node.config?.outputs ?? {})) {
      if (!ctx.fields.has(parent)) {
        return { path: ["config", "outputs", parent], message: `outputs writes undeclared parent field '${parent}'`, fix: `declare it, or write to one of: ${ctx.declared}` }
      }
    }
    return undefined
  },
  compile: (node, ctx) =>
    Effect.gen(function*() {
      const child = yield* ctx.subgraph(node.spec, { at: ["spec"], maxSteps: node.config?.max_steps })
      const inputs = node.config?.inputs ?? {}
      const outputs = node.config?.outputs ?? {}
      for (const key of Object.keys(inputs)) {
        if (!child.fields.has(key)) {
          return yield* ctx.invalid(["config", "inputs", key], `inputs writes child field '${key}', which graph '${child.id}' does not declare`, `use one of the child's fields: ${[...child.fields.keys()].join(", ")}`)
        }
      }
      for (const [parent, key] of Object.entries(outputs)) {
        if (!child.fields.has(key)) {
          return yield* ctx.invalid(["config", "outputs", parent], `outputs reads child field '${key}', which graph '${child.id}' does not declare`, `use one of the child's fields: ${[...child.fields.keys()].join(", ")}`)
        }
      }
      const mismatch = typeMismatch(child, inputs, outputs, ctx.fields)
      if (mismatch !== undefined) return yield* ctx.invalid(mismatch.path, mismatch.message, mismatch.fix)
      const into = projectIn(child, inputs, ctx.fields)
      const out = projectOut(child, inputs, outputs, ctx.fields)
      return {
        hashes: { subgraph: child.graphHash },
        childGraph: child,
        execute: (state, input) => {
          const childInputs = into(state)
          const answer = input.answers.length > 0 ? { value: input.answers[input.answers.length - 1] } : undefined
          const run = child.run({ parentRunId: input.runId, parentStep: input.step, nodeId: input.nodeId, inputs: childInputs, answer, replayOf: input.unfinishedChild, cancelling: input.cancelling, commits: input.childCommits }).pipe(
            Effect.flatMap((outcome) =>
              outcome._tag === "Done"
                ? Effect.succeed({ run_id: outcome.runId, state: outcome.state })
                : Effect.fail<ChildWaiting>({ _tag: "ChildWaiting", [Unrecorded]: true, outcome })
            )
          )
          // The request is built here from run state (plain JSON, frozen) and the response is
          // the child's final state (the same): neither is walked or copied again to record it.
          const request = { graph: child.graphHash, inputs: childInputs }
          const canonical = () => `{"graph":${JSON.stringify(child.graphHash)},"inputs":${canonicalPlainJson(childInputs)}}`
          return input.calls.callEffect("subgraph", request, run, { canonical, jsonResponse: true }).pipe(
            Effect.flatMap((result) => out(result.state, childInputs, input)),
            Effect.map((update): NodeOutcome => ({ _tag: "Update", update })),
            Effect.catchIf((e): e is ChildWaiting => e._tag === "ChildWaiting", (e) => Effect.succeed<NodeOutcome>({ ...e.outcome, _tag: "Interrupt" }))
          )
        }
      }
    })
})

/**
 * Whether declared types `from` and `to` can never agree: both known, neither `any`, and
 * different (an integer fits a number field, and a number field may hold whole numbers).
 */
const clash = (from: FieldInfo | undefined, to: FieldInfo | undefined): boolean => {
  const a = from?.type
  const b = to?.type
  if (a === undefined || b === undefined || a === "any" || b === "any" || a === b) return false
  return !(a === "integer" && b === "number") && !(a === "number" && b === "integer")
}

/**
 * A parent field that feeds a child field (an `inputs` mapping or a shared name), or a
 * child field given back to a parent field (an `outputs` mapping, or a shared name when
 * none is mapped), whose declared types clash: the child run, or the parent's step, would
 * fail on every run; refused when the graph is built.
 */
const typeMismatch = (
  child: ChildGraph,
  inputs: { readonly [child: string]: string },
  outputs: { readonly [parent: string]: string },
  parentFields: ReadonlyMap<string, FieldInfo>
): NodeKind.NodeProblem | undefined => {
  for (const [field, info] of child.fields) {
    const from = seedOf(inputs, parentFields, field)
    if (from === undefined || !clash(parentFields.get(from), info)) continue
    const mapped = inputs[field] !== undefined
    return {
      path: mapped ? ["config", "inputs", field] : ["spec"],
      message: `${mapped ? "inputs feeds" : "the shared field feeds"} child field '${field}' (declared ${info.type} in graph '${child.id}') from parent field '${from}' (declared ${parentFields.get(from)?.type})`,
      fix: mapped
        ? `map '${field}' from a parent field of its type, or declare the two fields alike`
        : `declare '${field}' alike in both graphs, or map the child field from another parent field (config.inputs: {${field}: <parent field>})`
    }
  }
  const given = Object.keys(outputs).length > 0
    ? Object.entries(outputs)
    : [...parentFields.keys()].filter((f) => child.fields.has(f)).map((f) => [f, f] as const)
  for (const [parent, field] of given) {
    if (!clash(child.fields.get(field), parentFields.get(parent))) continue
    const mapped = Object.keys(outputs).length > 0
    return {
      path: mapped ? ["config", "outputs", parent] : ["spec"],
      message: `${mapped ? "outputs gives" : "the shared field gives"} child field '${field}' (declared ${child.fields.get(field)?.type} in graph '${child.id}') back to parent field '${parent}' (declared ${parentFields.get(parent)?.type})`,
      fix: mapped
        ? `map '${parent}' from a child field of its type, or declare the two fields alike`
        : `declare '${field}' alike in both graphs, or map the fields to give back (config.outputs: {<parent field>: <child field>}) to leave it out`
    }
  }
  return undefined
}

/** The parent field a child field starts from: the one `inputs` maps to it, else the parent's field of the same name. */
const seedOf = (inputs: { readonly [child: string]: string }, parentFields: ReadonlyMap<string, unknown>, field: string): string | undefined =>
  inputs[field] ?? (parentFields.has(field) ? field : undefined)

/** Parent state → child inputs: mapped fields, then fields both graphs declare. */
const projectIn = (child: ChildGraph, inputs: { readonly [child: string]: string }, parentFields: ReadonlyMap<string, unknown>) => (state: State): State => {
  const result: Record<string, unknown> = {}
  for (const field of child.fields.keys()) {
    const from = seedOf(inputs, parentFields, field)
    if (from !== undefined && state[from] !== undefined) result[field] = state[from]
  }
  return result
}

/**
 * Child's final state → parent update: the mapped fields, or else every field both
 * declare. A parent field with an `append` or `add` reducer that also seeded the child
 * field gets what the child added (the items past the ones it was given; the difference),
 * not the child's whole value, which the reducer would add to what the parent already
 * holds (every item twice, a counter doubled). A child that did not keep what it was given
 * (its list no longer starts with it) is refused: what it added is not known.
 */
/**
 * Whether `value`'s items after `seed` give `value` back when the parent's reducer adds
 * them to `seed`: always for `append`; for `messages`, unless an added message reuses an
 * id (the child's own field appended a second message with it, which the parent's
 * history would merge instead).
 */
const addsAsIs = (reducer: "append" | "messages", seed: ReadonlyArray<unknown>, value: ReadonlyArray<unknown>): boolean => {
  if (reducer === "append") return true
  const merged = addMessages(seed, value.slice(seed.length))
  return Either.isRight(merged) && jsonEqual(merged.right, value)
}

const projectOut = (
  child: ChildGraph,
  inputs: { readonly [child: string]: string },
  outputs: { readonly [parent: string]: string },
  parentFields: ReadonlyMap<string, FieldInfo>
) => {
  const entries = Object.keys(outputs).length > 0
    ? Object.entries(outputs)
    : [...child.fields.keys()].filter((f) => parentFields.has(f)).map((f) => [f, f] as const)
  // Parent field, child field, and the parent's reducer when the child field was seeded from that parent field.
  const plan = entries.map(([parent, field]) => {
    const reducer = parentFields.get(parent)?.reducer
    return { parent, field, accumulates: seedOf(inputs, parentFields, field) === parent && (reducer === "append" || reducer === "add" || reducer === "messages") ? reducer : undefined }
  })
  return (state: State, given: State, input: NodeInput): Effect.Effect<State, StateValidationError> => {
    const result: Record<string, unknown> = {}
    for (const { parent, field, accumulates } of plan) {
      const value = state[field]
      if (value === undefined) continue
      const seed = given[field]
      if (accumulates === undefined || seed === undefined) {
        result[parent] = value
      } else if (accumulates === "add") {
        result[parent] = typeof value === "number" && typeof seed === "number" ? value - seed : value
      } else if (Array.isArray(value) && Array.isArray(seed) && value.length >= seed.length && seed.every((item, i) => jsonEqual(item, value[i])) && addsAsIs(accumulates, seed, value)) {
        result[parent] = value.slice(seed.length)
      } else {
        // A history whose seeded messages the child changed or removed (by id): what it did, as a write.
        const delta = accumulates === "messages" && Array.isArray(value) && Array.isArray(seed) ? messagesDelta(seed, value) : undefined
        if (delta !== undefined) {
          result[parent] = delta
          continue
        }
        return Effect.fail(new StateValidationError({
          source: "node-update",
          field: parent,
          nodeId: input.nodeId,
          step: input.step,
          message: `child graph '${child.id}' gave back a '${field}' that does not start with the item(s) it was given from '${parent}', ` +
            `whose reducer (${accumulates}) takes what the child added: what it added is not known` +
            (accumulates === "messages" ? " (a message it changed or removed needs an id)" : ""),
          fix: `have the child append to '${field}' instead of replacing it, or map it (config.outputs) to a parent field with reducer replace`
        }))
      }
    }
    return Effect.succeed(result)
  }
}
