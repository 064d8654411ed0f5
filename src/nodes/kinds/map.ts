/**
 * `map`: dynamic fan-out (what LangGraph calls `Send`). Runs a child graph (`spec`, as a
 * `subgraph` node names it) once per item of the parent's list field `config.over`,
 * `config.concurrency` at a time, and writes each child's `config.result` field, in item
 * order, to the parent's list field `config.output`. Each item's child is its own run,
 * linked to the parent step and checkpointed step by step, keyed
 * `subgraph:<parent run>:<step>:<node>#<index>`: a parent step resumed after a crash
 * continues the unfinished children and takes the finished ones' results as they are.
 * The whole map is one recorded call (request: the child graph hash and every item's
 * child inputs; response: the results and child run ids, in item order), so a replay or
 * fork serves it without running a child, whatever order the children finished in.
 * A child that asks for input stops the parent in `awaiting-input` at the map node (the
 * lowest-index asking item's question, its payload naming `child_run_id`, `child_node`
 * and `item`); the answer goes to that item's child when the step runs again, one
 * question at a time. A waiting map is not recorded: only its end is. Under `retry`, an
 * item whose child run failed is run again in a new child run (`@<attempt>` after its key),
 * after `backoff_ms`, up to `max_attempts` child runs for the item; the items that did not
 * fail are not run again, and the recording names the failed attempts' runs (`retried`).
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import { Checkpointer } from "../../checkpoint/Checkpointer.js"
import type { RunRecord } from "../../checkpoint/models.js"
import { type CheckpointError, formatError, NodeExecutionError, StateValidationError } from "../../errors.js"
import { canonicalPlainJson } from "../../ir/hash.js"
import { RetryPolicy } from "../../ir/schema.js"
import type { FieldInfo, State } from "../../ir/stateSchema.js"
import { Unrecorded } from "../calls.js"
import { type ChildGraph, type ChildOutcome, childRunKey } from "../ChildGraph.js"
import type { NodeEnv, NodeFailure, NodeInput, NodeOutcome } from "../Executor.js"
import * as NodeKind from "../NodeKind.js"

/** The default number of children run at once. */
export const DEFAULT_CONCURRENCY = 4
/** The default longest list a `map` node takes. */
export const DEFAULT_MAX_ITEMS = 1000

/** Whether a field can hold a list (declared an array, `any`, or of a type the schema does not show). */
const holdsList = (field: FieldInfo): boolean => field.type === undefined || field.type === "array" || field.type === "any"

/**
 * What the map step records: each child's result and run id, in item order; under
 * `retry`, when an item was run again, `retried`: the failed attempts' child runs by item
 * (its index as text), oldest first.
 */
interface MapResponse {
  readonly results: ReadonlyArray<unknown>
  readonly run_ids: ReadonlyArray<string>
  readonly retried?: { readonly [item: string]: ReadonlyArray<string> }
}

/** An item's retry policy: child runs at most (`max_attempts`) and the wait between two. */
interface ItemRetry {
  readonly attempts: number
  readonly backoff: Duration.Duration
}

/** An item's child run that stopped for input (not a result: nothing is recorded for it). */
interface ItemWaiting {
  readonly _tag: "ItemWaiting"
  readonly [Unrecorded]: true
  readonly index: number
  readonly outcome: Extract<ChildOutcome, { _tag: "Waiting" }>
}

/** The `map` kind. */
export const MapKind = NodeKind.make({
  name: "map",
  summary: "Runs a child graph (spec: its YAML path) once per item of a list field, concurrently, as linked child runs; collects a child field into a list, in item order. retry runs a failed item again in a new child run.",
  fields: {
    spec: Schema.String,
    /** Per item: a child run that failed is followed by a new one, up to `max_attempts` runs for the item, `backoff_ms` apart. */
    retry: Schema.optional(RetryPolicy),
    config: Schema.Struct({
      /** The parent's list field: one child run per item. */
      over: Schema.String,
      /** The child field each item is written to. */
      item: Schema.String,
      /** Other child fields, from parent fields (child field → parent field). */
      inputs: Schema.optional(Schema.Record({ key: Schema.String, value: Schema.String })),
      /** The child field collected from each child's final state. */
      result: Schema.String,
      /** The parent's list field the results are written to, in item order. */
      output: Schema.String,
      concurrency: Schema.optional(Schema.Int.pipe(Schema.between(1, 64))),
      max_items: Schema.optional(Schema.Int.pipe(Schema.between(1, 1_000_000))),
      max_steps: Schema.optional(Schema.Int.pipe(Schema.between(1, 1_000_000)))
    })
  },
  stops: "may-ask-for-input",
  check: (node, ctx) => {
    const { over, output, inputs } = node.config
    for (const [key, field] of [["over", over], ["output", output]] as const) {
      const info = ctx.fields.get(field)
      if (info === undefined) {
        return { path: ["config", key], message: `${key} names undeclared parent field '${field}'`, fix: `declare '${field}' as a list (type: array), or use one of: ${ctx.declared}` }
      }
      if (!holdsList(info)) {
        return { path: ["config", key], message: `${key} names parent field '${field}' of type ${info.type}, not a list`, fix: `declare '${field}' with type: array, or name a list field` }
      }
    }
    for (const [child, parent] of Object.entries(inputs ?? {})) {
      if (!ctx.fields.has(parent)) {
        return { path: ["config", "inputs", child], message: `inputs reads undeclared parent field '${parent}'`, fix: `map '${child}' to one of: ${ctx.declared}` }
      }
      if (child === node.config.item) {
        return { path: ["config", "inputs", child], message: `inputs writes child field '${child}', which each item is written to (config.item)`, fix: `remove '${child}' from inputs, or write the items to another child field` }
      }
    }
    return undefined
  },
  compile: (node, ctx) =>
    Effect.gen(function*() {
      const { item, result, over, output } = node.config
      const inputs = node.config.inputs ?? {}
      const concurrency = node.config.concurrency ?? DEFAULT_CONCURRENCY
      const maxItems = node.config.max_items ?? DEFAULT_MAX_ITEMS
      const retry: ItemRetry = { attempts: node.retry?.max_attempts ?? 1, backoff: Duration.millis(node.retry?.backoff_ms ?? 0) }
      const child = yield* ctx.subgraph(node.spec, { at: ["spec"], maxSteps: node.config.max_steps })
      const childFields = () => [...child.fields.keys()].join(", ")
      for (const [key, field] of [["item", item], ["result", result]] as const) {
        if (!child.fields.has(field)) {
          return yield* ctx.invalid(["config", key], `${key} names child field '${field}', which graph '${child.id}' does not declare`, `use one of the child's fields: ${childFields()}`)
        }
      }
      for (const key of Object.keys(inputs)) {
        if (!child.fields.has(key)) {
          return yield* ctx.invalid(["config", "inputs", key], `inputs writes child field '${key}', which graph '${child.id}' does not declare`, `use one of the child's fields: ${childFields()}`)
        }
      }
      return {
        hashes: { subgraph: child.graphHash },
        childGraph: child,
        execute: (state, input) => {
          const items = state[over]
          if (!Array.isArray(items)) {
            return Effect.fail(new StateValidationError({
              source: "node-update",
              field: over,
              nodeId: input.nodeId,
              step: input.step,
              message: `map node '${input.nodeId}' runs over '${over}', which holds ${items === undefined || items === null ? "nothing" : `${typeof items === "object" ? "an" : "a"} ${typeof items}`}, not a list`,
              fix: `write a list to '${over}' before node '${input.nodeId}' runs`
            }))
          }
          if (items.length > maxItems) {
            return Effect.fail(new StateValidationError({
              source: "node-update",
              field: over,
              nodeId: input.nodeId,
              step: input.step,
              message: `map node '${input.nodeId}' runs over '${over}', which holds ${items.length} items, more than max_items (${maxItems})`,
              fix: `raise config.max_items (at most 1000000), or split '${over}'`
            }))
          }
          // Nothing to run: no child run, no recorded call.
          if (items.length === 0) return Effect.succeed<NodeOutcome>({ _tag: "Update", update: { [output]: [] } })
          const shared: Record<string, unknown> = {}
          for (const [key, from] of Object.entries(inputs)) {
            if (state[from] !== undefined) shared[key] = state[from]
          }
          const childInputs: ReadonlyArray<State> = items.map((value: unknown) => ({ ...shared, [item]: value }))
          // Every item's inputs are checked before any child starts: one the child refuses
          // fails the step with nothing run (no child's work spent, no child left behind).
          for (const [index, inputs] of childInputs.entries()) {
            const refused = child.checkInputs(inputs)
            if (Either.isLeft(refused)) {
              const e = refused.left
              return Effect.fail(new StateValidationError({
                source: "node-update",
                field: e.field === item ? `${over}.${index}` : e.field,
                nodeId: input.nodeId,
                step: input.step,
                message: `map node '${input.nodeId}': item ${index} of '${over}' does not fit child graph '${child.id}': ${e.message}`,
                fix: e.field === item ? `make every item of '${over}' a value the child's '${item}' field takes (${e.fix})` : e.fix
              }))
            }
          }
          const request = { graph: child.graphHash, items: childInputs }
          const canonical = () => `{"graph":${JSON.stringify(child.graphHash)},"items":[${childInputs.map(canonicalPlainJson).join(",")}]}`
          // Resumed with an answer: it goes to the item whose child asked (the lowest-index one still asking).
          const answer = input.answers.length > 0 ? { value: input.answers[input.answers.length - 1] } : undefined
          return input.calls.callEffect("map", request, runAll(child, childInputs, concurrency, retry, result, input, answer), { canonical, jsonResponse: true }).pipe(
            Effect.map((response): NodeOutcome => ({ _tag: "Update", update: { [output]: response.results } })),
            Effect.catchIf((e): e is ItemWaiting => e._tag === "ItemWaiting", ({ index, outcome }) =>
              Effect.succeed<NodeOutcome>({
                _tag: "Interrupt",
                prompt: outcome.prompt,
                responseField: outcome.responseField,
                payload: { ...outcome.payload, item: index },
                answered: outcome.answered,
                ...(outcome.waitId !== undefined ? { waitId: outcome.waitId } : {})
              }))
          )
        }
      }
    })
})

/** An item not started because an earlier one asked for input. */
const NOT_STARTED = { _tag: "NotStarted" } as const

/** How an item ended for now: its last attempt's outcome (or failure), with that attempt and the failed attempts' child runs before it. */
interface ItemEnd {
  readonly outcome: Either.Either<ChildOutcome | typeof NOT_STARTED, NodeFailure>
  readonly attempt: number
  readonly failed: ReadonlyArray<string>
}

/**
 * Run (or continue) every item's child, `concurrency` at a time. Each child's end is made
 * durable as it ends while others still run (so a crash loses no finished child); the
 * last ones' ends go with the parent step's commit. Under `retry`, an item whose child run
 * ended `failed` is run again in a new child run (its next attempt's key), after the
 * backoff, while attempts remain; a step run again (resumed) goes on from each item's
 * latest attempt. A child that still fails fails the step once every started child has
 * ended: the first such item, in item order. After a child asked for input (or is found
 * still asking), no further item is started; once the started ones have ended or asked,
 * the step stops for the lowest-index asking item's question (`ItemWaiting`). `answer`
 * (the step resumed with one) goes to the child of the lowest-index item still asking:
 * the one the parent waited for.
 */
const runAll = (
  child: ChildGraph,
  childInputs: ReadonlyArray<State>,
  concurrency: number,
  retry: ItemRetry,
  result: string,
  input: NodeInput,
  answer: { readonly value: unknown } | undefined
): Effect.Effect<MapResponse, NodeFailure | ItemWaiting, NodeEnv> =>
  Effect.gen(function*() {
    const checkpointer = yield* Checkpointer
    const keyOf = (index: number, attempt = 1) => ({ parentRunId: input.runId, parentStep: input.step, nodeId: input.nodeId, index, attempt })
    /**
     * The item's latest attempt so far: the first whose child run is not there yet or did
     * not fail (or the last one allowed), with that run, and the failed runs before it.
     */
    const latest = (index: number): Effect.Effect<{ readonly attempt: number; readonly run: RunRecord | undefined; readonly failed: ReadonlyArray<string> }, CheckpointError> =>
      Effect.gen(function*() {
        const failed: Array<string> = []
        for (let attempt = 1;; attempt++) {
          const run = Option.getOrUndefined(yield* checkpointer.findByIdempotencyKey(childRunKey(keyOf(index, attempt))))
          if (run === undefined || run.status !== "failed" || attempt >= retry.attempts) return { attempt, run, failed }
          failed.push(run.run_id)
        }
      })
    let answered: number | undefined
    if (answer !== undefined) {
      for (let index = 0; index < childInputs.length && answered === undefined; index++) {
        if ((yield* latest(index)).run?.status === "awaiting-input") answered = index
      }
    }
    let unfinished = childInputs.length
    // Once a child asks for input the step waits: the items not started yet are not started.
    let asked = false
    /**
     * The child run of the item's `attempt` (given the answer when it is the attempt the
     * step found asking), and, when it failed with attempts left, the next attempt's after
     * the backoff.
     */
    const attemptAt = (index: number, inputs: State, attempt: number, failed: ReadonlyArray<string>, given: { readonly value: unknown } | undefined): Effect.Effect<ItemEnd, CheckpointError, NodeEnv> =>
      child.run({ ...keyOf(index, attempt), inputs, answer: given, cancelling: input.cancelling, commits: input.childCommits }).pipe(
        Effect.either,
        Effect.flatMap((outcome): Effect.Effect<ItemEnd, CheckpointError, NodeEnv> => {
          if (Either.isRight(outcome) || outcome.left._tag !== "NodeExecutionError" || attempt >= retry.attempts) return Effect.succeed({ outcome, attempt, failed })
          // Retried only when the child run itself failed (not cancelled, stopped or broken): its end written first, to read it.
          return Effect.gen(function*() {
            if (input.childCommits !== undefined) yield* input.childCommits.flush
            const run = Option.getOrUndefined(yield* checkpointer.findByIdempotencyKey(childRunKey(keyOf(index, attempt))))
            if (run?.status !== "failed") return { outcome, attempt, failed }
            yield* Effect.sleep(retry.backoff)
            return yield* attemptAt(index, inputs, attempt + 1, [...failed, run.run_id], undefined)
          })
        })
      )
    const ends = yield* Effect.forEach(childInputs, (inputs, index): Effect.Effect<ItemEnd, CheckpointError, NodeEnv> =>
      asked ? Effect.succeed({ outcome: Either.right(NOT_STARTED), attempt: 0, failed: [] }) : (retry.attempts <= 1
        ? attemptAt(index, inputs, 1, [], index === answered ? answer : undefined)
        : Effect.flatMap(latest(index), (at) => attemptAt(index, inputs, at.attempt, at.failed, index === answered ? answer : undefined))
      ).pipe(
        Effect.tap(({ outcome }) => {
          if (Either.isRight(outcome) && outcome.right._tag === "Waiting") asked = true
          unfinished -= 1
          return unfinished > 0 && input.childCommits !== undefined ? input.childCommits.flush : Effect.void
        })
      ), { concurrency })
    const results: Array<unknown> = []
    const runIds: Array<string> = []
    const retried: Record<string, ReadonlyArray<string>> = {}
    // The lowest-index item asking for input: the step waits for it, unless an item failed.
    let waiting: ItemWaiting | undefined
    for (const [index, { attempt, failed, outcome }] of ends.entries()) {
      if (Either.isLeft(outcome)) {
        const error = outcome.left
        if (error._tag === "CheckpointError") return yield* Effect.fail(error)
        return yield* new NodeExecutionError({
          nodeId: input.nodeId,
          step: input.step,
          attempts: attempt,
          cause: `item ${index}: ${error._tag === "NodeExecutionError" ? error.cause : formatError(error)}` +
            (failed.length === 0 ? "" : ` (attempt ${attempt} of ${retry.attempts}; the earlier attempts' child runs failed too: ${failed.join(", ")})`),
          errorTag: error._tag,
          error
        })
      }
      const done = outcome.right
      // (Only after an item that asked.)
      if (done._tag === "NotStarted") continue
      if (done._tag === "Waiting") {
        waiting ??= { _tag: "ItemWaiting", [Unrecorded]: true, index, outcome: done }
        continue
      }
      // Results matter only once no item waits (a later item's missing result fails the step then).
      if (waiting !== undefined) continue
      const value = done.state[result]
      if (value === undefined) {
        return yield* new NodeExecutionError({
          nodeId: input.nodeId,
          step: input.step,
          attempts: attempt,
          cause: `item ${index}: child run ${done.runId} ended without '${result}' (config.result); a missing result is not read as null. ` +
            `Fix: make the child graph write '${result}', or give it a default in the child's state schema`
        })
      }
      results.push(value)
      runIds.push(done.runId)
      if (failed.length > 0) retried[String(index)] = failed
    }
    if (waiting !== undefined) return yield* Effect.fail(waiting)
    return Object.keys(retried).length === 0 ? { results, run_ids: runIds } : { results, run_ids: runIds, retried }
  })
