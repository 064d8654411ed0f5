/**
 * Routing decisions: the one action that decides where a run goes after a node, picked
 * from the `stargraph_action` facts its rules asserted by priority
 * interrupt > halt > goto/retry > parallel > continue (the first action wins within a
 * kind: the first rule that fired).
 */
import * as Schema from "effect/Schema"
import { ParallelStrategy } from "../ir/rules.js"

/** No rule routed the node: the next node in declaration order (a halt node stops there). */
export const Continue = Schema.TaggedStruct("continue", {})

/** Go to `target` (`__end__`: this branch ends). */
export const Goto = Schema.TaggedStruct("goto", { target: Schema.String, rule: Schema.String })

/** Run `target` again after `backoff_ms`. */
export const Retry = Schema.TaggedStruct("retry", { target: Schema.String, backoff_ms: Schema.Number, rule: Schema.String })

/** Run `targets` next, concurrently; with a `join`, continue there once `strategy` is met. */
export const Parallel = Schema.TaggedStruct("parallel", {
  targets: Schema.Array(Schema.String),
  join: Schema.String,
  strategy: ParallelStrategy,
  rule: Schema.String
})

/** Stop the run: done. */
export const Halt = Schema.TaggedStruct("halt", { reason: Schema.String, rule: Schema.String })

/** Stop the run in `awaiting-input`. */
export const Interrupt = Schema.TaggedStruct("interrupt", {
  prompt: Schema.String,
  payload: Schema.Record({ key: Schema.String, value: Schema.Unknown }),
  /** Milliseconds, when the wait is bounded. */
  timeout_ms: Schema.optional(Schema.Number),
  on_timeout: Schema.String,
  response_field: Schema.optional(Schema.String),
  /** The capability the answerer needs (`requested_capability`), recorded on the wait. */
  requested_capability: Schema.optional(Schema.String),
  rule: Schema.String,
  /** Where the run goes once answered: the node's routing apart from the interrupt. */
  after: Schema.optional(Schema.Union(Continue, Goto, Retry, Parallel))
})

/** One node's routing decision. */
export const Decision = Schema.Union(Continue, Goto, Retry, Parallel, Halt, Interrupt)
/** One node's routing decision. */
export type Decision = typeof Decision.Type

/** A side-effect action applied while the rules ran (assert or retract a fact). */
export const SideEffect = Schema.Struct({
  kind: Schema.Literal("assert", "retract"),
  rule: Schema.String,
  /** The fact asserted, or the pattern retracted, as CLIPS text. */
  fact: Schema.String,
  /** Facts retracted by a retract action. */
  count: Schema.optional(Schema.Int)
})
/** A side-effect action applied while the rules ran. */
export type SideEffect = typeof SideEffect.Type

/** A rule firing: the rule and the facts of its match (null where CLIPS prints `*`). */
export const RuleFiring = Schema.Struct({
  rule: Schema.String,
  facts: Schema.Array(Schema.NullOr(Schema.Int)),
  /** The node whose evaluation fired it. */
  node: Schema.String
})
/** A rule firing. */
export type RuleFiring = typeof RuleFiring.Type

/** What the rules did after one step: firings, side effects and each node's decision. */
export const StepRules = Schema.Struct({
  firings: Schema.Array(RuleFiring),
  effects: Schema.Array(SideEffect),
  decisions: Schema.Record({ key: Schema.String, value: Decision })
})
/** What the rules did after one step. */
export type StepRules = typeof StepRules.Type

const RANK: Record<Decision["_tag"], number> = { interrupt: 0, halt: 1, goto: 2, retry: 2, parallel: 3, continue: 4 }

const best = (actions: ReadonlyArray<Decision>): Decision =>
  actions.reduce<Decision>((b, a) => (RANK[a._tag] < RANK[b._tag] ? a : b), { _tag: "continue" })

/**
 * The deciding action among a node's actions, in the order they were asserted. An
 * interrupt carries the routing that applies once it is answered (`after`).
 */
export const choose = (actions: ReadonlyArray<Decision>): Decision => {
  const chosen = best(actions)
  if (chosen._tag !== "interrupt") return chosen
  const after = best(actions.filter((a) => a._tag !== "interrupt" && a._tag !== "halt"))
  return after._tag === "continue" || after._tag === "goto" || after._tag === "retry" || after._tag === "parallel" ? { ...chosen, after } : chosen
}

/** One line for a decision: `goto node_b (r-advance)`. */
export const describeDecision = (d: Decision): string => {
  switch (d._tag) {
    case "continue":
      return "continue"
    case "goto":
      return `goto ${d.target} (${d.rule})`
    case "retry":
      return `retry ${d.target} after ${d.backoff_ms} ms (${d.rule})`
    case "parallel":
      return `parallel ${d.targets.join(", ")}${d.join ? ` → ${d.join}` : ""} [${d.strategy}] (${d.rule})`
    case "halt":
      return `halt${d.reason ? `: ${d.reason}` : ""}${d.rule ? ` (${d.rule})` : " (halt node)"}`
    case "interrupt":
      return `interrupt: ${d.prompt} (${d.rule})`
  }
}

