/**
 * Counterfactual forks: copy a parent run's checkpoints up to the fork step, apply the
 * mutation there, and continue with the current graph, answering every recorded call
 * from the parent's cassette. The fork is a new run (`cf-<uuid>`) with the parent and
 * fork step on its record and `derived_hash` = sha256(parent graph_hash, fork step,
 * canonical mutation). A fork of a fork works the same way. Every input is validated
 * before anything is written.
 */
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import { Checkpointer } from "../checkpoint/Checkpointer.js"
import { type Checkpoint, type RunSummary, toSummary } from "../checkpoint/models.js"
import { CheckpointError, InputError, type RunStateError, type StargraphError, StateValidationError } from "../errors.js"
import type { Graph } from "../graph/Graph.js"
import { checkJson } from "../ir/json.js"
import { nowIso } from "../runtime/RunLoop.js"
import { decodeMutation, derivedHash } from "../runtime/Mutation.js"
import { replaySource } from "../runtime/replaySource.js"
import { diffRuns, type RunDiff } from "./RunDiff.js"
import { listSome } from "../ir/limits.js"

/** How to fork. */
export interface ForkOptions {
  /** Step whose (mutated) state the fork continues from (default 0). */
  readonly fromStep?: number
  /** A `CounterfactualMutation` (raw JSON; decoded and validated here). */
  readonly mutation?: unknown
  /** Escape hatch: answer calls the cassette cannot with live calls instead of failing. */
  readonly liveAfterFork?: boolean
  readonly actor?: string
}

/** What a fork produced. */
export interface ForkResult {
  readonly cfRunId: string
  readonly derivedHash: string
  readonly summary: RunSummary
  readonly diff: RunDiff
  /** Why the fork's run failed, when it did (e.g. a `ReplayDivergenceError`). */
  readonly error?: StargraphError | undefined
}

/** Fork `parentRunId` and drive the fork to a stop; returns its id, summary and the RunDiff. */
export const fork = (
  graph: Graph,
  parentRunId: string,
  options: ForkOptions = {}
): Effect.Effect<ForkResult, CheckpointError | InputError | StateValidationError | RunStateError, Checkpointer> =>
  Effect.gen(function*() {
    const checkpointer = yield* Checkpointer
    const parent = yield* Effect.flatMap(checkpointer.getRun(parentRunId), Option.match({
      onNone: () => Effect.fail(new CheckpointError({ reason: "unknown-run", runId: parentRunId, message: `no run '${parentRunId}' to replay` })),
      onSome: Effect.succeed
    }))
    if (parent.graph_hash !== graph.graphHash) {
      return yield* new CheckpointError({
        reason: "graph-hash-mismatch",
        runId: parentRunId,
        expectedHash: parent.graph_hash,
        actualHash: graph.graphHash,
        message: `run ${parentRunId} was recorded with a different graph than ${graph.source ?? graph.id}; replay needs the graph it ran with`
      })
    }
    const checkpoints = yield* checkpointer.listCheckpoints(parentRunId)
    const lastStep = checkpoints[checkpoints.length - 1]?.step ?? 0
    const fromStep = options.fromStep ?? 0
    const base = checkpoints.find((c) => c.step === fromStep)
    if (!Number.isInteger(fromStep) || base === undefined) {
      return yield* new InputError({
        field: "from_step",
        message: `run ${parentRunId} has steps 0..${lastStep}; there is no step ${fromStep}`,
        fix: `pass a step from 0 to ${lastStep}`
      })
    }
    const mutation = yield* decodeMutation(options.mutation)
    for (const nodeId of Object.keys(mutation.node_output_overrides)) {
      if (!graph.topology.nodes.has(nodeId)) {
        return yield* new InputError({
          field: `mutation.node_output_overrides.${nodeId}`,
          message: `no node '${nodeId}' in graph ${graph.id}`,
          fix: `use one of: ${listSome(graph.topology.nodes.keys())}`
        })
      }
    }
    const overrides = mutation.state_overrides
    const problem = checkJson(overrides, "mutation.state_overrides")
    if (problem) return yield* new InputError({ field: problem.path, message: problem.message, fix: "overrides must be plain JSON" })
    const state = { ...base.state, ...overrides }
    const invalid = Either.getLeft(Schema.decodeUnknownEither(graph.state.schema, { onExcessProperty: "error" })(state))
    if (Option.isSome(invalid)) {
      const issue = ParseResult.ArrayFormatter.formatErrorSync(invalid.value)[0]
      return yield* new StateValidationError({
        source: "mutation",
        field: (issue?.path ?? []).map(String).join(".") || "<state>",
        step: fromStep,
        message: `state_overrides do not fit the state schema: ${issue?.message ?? "invalid"}`
      })
    }

    const derived = derivedHash(parent.graph_hash, fromStep, mutation)
    const copy = (c: Checkpoint): Omit<Checkpoint, "run_id"> => {
      const { run_id: _id, ...rest } = c
      const forkPoint = c.step === fromStep
      return {
        ...rest,
        parent_run_id: parentRunId,
        ...(forkPoint ? { state, delta: { ...c.delta, ...overrides } } : {})
      }
    }
    const prefix = checkpoints.filter((c) => c.step <= fromStep).map(copy)
    const at = yield* nowIso
    const created = yield* checkpointer.createRun({
      runIdPrefix: "cf",
      graph_id: graph.id,
      graph_hash: parent.graph_hash,
      runtime_hash: graph.runtimeHash,
      inputs: parent.inputs,
      parent_run_id: parentRunId,
      fork_step: fromStep,
      graph_source: graph.source ?? parent.graph_source,
      created_at: at,
      derived_hash: derived,
      mutation,
      initial: prefix[0]!,
      history: prefix.slice(1)
    })
    const cfRunId = created.record.run_id
    const run = yield* graph.resume(cfRunId, {
      replay: replaySource(graph, checkpoints, fromStep, mutation, options.liveAfterFork === true),
      actor: options.actor ?? "replay"
    })
    const outcome = yield* Effect.either(run.start())
    const forkCheckpoints = yield* checkpointer.listCheckpoints(cfRunId)
    const record = Option.getOrElse(yield* checkpointer.getRun(cfRunId), () => created.record)
    const summary = Either.isRight(outcome) ? outcome.right : toSummary(record, forkCheckpoints[forkCheckpoints.length - 1]?.state ?? {})
    return {
      cfRunId,
      derivedHash: derived,
      summary,
      diff: diffRuns(checkpoints, forkCheckpoints, mutation, derived),
      error: Either.isLeft(outcome) ? outcome.left : undefined
    }
  })
