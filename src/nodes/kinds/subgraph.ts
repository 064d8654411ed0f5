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
import * as Schema from "effect/Schema"
import type { State } from "../../ir/stateSchema.js"
import { Unrecorded } from "../calls.js"
import type { ChildGraph, ChildOutcome } from "../ChildGraph.js"
import type { NodeOutcome } from "../Executor.js"
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
      const into = projectIn(child, inputs, ctx.fields)
      const out = projectOut(child, outputs, ctx.fields)
      return {
        hashes: { subgraph: child.graphHash },
        childGraph: child,
        execute: (state, input) => {
          const childInputs = into(state)
          const answer = input.answers.length > 0 ? { value: input.answers[input.answers.length - 1] } : undefined
          const run = child.run({ parentRunId: input.runId, parentStep: input.step, nodeId: input.nodeId, inputs: childInputs, answer, replayOf: input.unfinishedChild, cancelling: input.cancelling }).pipe(
            Effect.flatMap((outcome) =>
              outcome._tag === "Done"
                ? Effect.succeed({ run_id: outcome.runId, state: outcome.state })
                : Effect.fail<ChildWaiting>({ _tag: "ChildWaiting", [Unrecorded]: true, outcome })
            )
          )
          return input.calls.callEffect("subgraph", { graph: child.graphHash, inputs: childInputs }, run).pipe(
            Effect.map((result): NodeOutcome => ({ _tag: "Update", update: out(result.state) })),
            Effect.catchIf((e): e is ChildWaiting => e._tag === "ChildWaiting", (e) => Effect.succeed<NodeOutcome>({ ...e.outcome, _tag: "Interrupt" }))
          )
        }
      }
    })
})

/** Parent state → child inputs: mapped fields, then fields both graphs declare. */
const projectIn = (child: ChildGraph, inputs: { readonly [child: string]: string }, parentFields: ReadonlyMap<string, unknown>) => (state: State): State => {
  const result: Record<string, unknown> = {}
  for (const field of child.fields.keys()) {
    const from = inputs[field] ?? (parentFields.has(field) ? field : undefined)
    if (from !== undefined && state[from] !== undefined) result[field] = state[from]
  }
  return result
}

/** Child's final state → parent update: the mapped fields, or else every field both declare. */
const projectOut = (child: ChildGraph, outputs: { readonly [parent: string]: string }, parentFields: ReadonlyMap<string, unknown>) => (state: State): State => {
  const entries = Object.keys(outputs).length > 0
    ? Object.entries(outputs)
    : [...child.fields.keys()].filter((f) => parentFields.has(f)).map((f) => [f, f] as const)
  const result: Record<string, unknown> = {}
  for (const [parent, field] of entries) if (state[field] !== undefined) result[parent] = state[field]
  return result
}
