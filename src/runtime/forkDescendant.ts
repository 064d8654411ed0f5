/**
 * A child run of a counterfactual fork (its `subgraph` or `map` node's child, or theirs
 * further down) answers its calls from the recording only when its fork drives it: the fork
 * hands it its replay source. Answered or resumed directly it would have none and run live
 * past the recording, so it is refused, naming the fork to answer or resume instead. Its
 * state edited directly, it would be a step off that recording: refused too, naming the
 * fork to fork again with the state wanted.
 */
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type { CheckpointerShape } from "../checkpoint/Checkpointer.js"
import type { RunRecord } from "../checkpoint/models.js"
import { type CheckpointError, RunStateError } from "../errors.js"

/**
 * The fork `record` descends from through child links (a run with no `derived_hash` whose
 * `parent_run_id` names the run that started it), if any: the first run up that chain with
 * a `derived_hash`. A fork's own `parent_run_id` is the run it was forked from, not one
 * that drives it: the walk stops there.
 */
export const forkAbove = (checkpointer: CheckpointerShape, record: RunRecord): Effect.Effect<RunRecord | undefined, CheckpointError> =>
  Effect.gen(function*() {
    let below = record
    while (below.parent_run_id !== null && below.derived_hash === null) {
      const parent = Option.getOrUndefined(yield* checkpointer.getRun(below.parent_run_id))
      if (parent === undefined) return undefined
      if (parent.derived_hash !== null) return parent
      below = parent
    }
    return undefined
  })

/**
 * Whether an answer to `fork` takes it past its parent's recording with no live calls
 * allowed: it may not call live, and it waits at a step after the last its parent recorded
 * (`parentLastStep`), so the recording holds no answer there and nothing after it. Such an
 * answer is taken, but the first call after it fails the fork (`ReplayDivergenceError`), so
 * the fix for a fork's child answered directly names the fork's answer with them allowed.
 */
export const forkAnswerNeedsLive = (fork: RunRecord, parentLastStep: number | undefined): boolean =>
  !fork.live_after_fork && fork.waiting !== null && fork.waiting !== undefined && (parentLastStep ?? -1) < fork.waiting.step

/**
 * The fix for a fork's child run answered or resumed directly: the same done to the fork
 * (`answer`: it waits for an answer; `live`: with live calls allowed, see
 * {@link forkAnswerNeedsLive}), each way of doing it.
 */
export const forkDescendantFix = (forkId: string, answer: boolean, live: boolean): string =>
  answer
    ? `answer the fork instead, which passes the answer down with its replay source: stargraph respond ${forkId} --response '<json>'${live ? " --live-after-fork" : ""} on the CLI, ` +
      `POST /v1/runs/${forkId}/respond with {"response": <JSON>${live ? ", \"live_after_fork\": true" : ""}} over HTTP, ` +
      `resume options { response${live ? ", liveAfterFork: true" : ""} } for run ${forkId} in an app`
    : `resume the fork instead, which drives its child runs with its replay source: stargraph resume ${forkId} on the CLI, ` +
      `POST /v1/runs/${forkId}/resume over HTTP, resume ${forkId} in an app`

/**
 * The refusal of answering (`answering`) or resuming `run`, a descendant of `fork`, directly
 * (`live`: answering the fork needs live calls allowed). Nothing was changed.
 */
export const forkDescendantRefusal = (run: RunRecord, fork: RunRecord, answering: boolean, live: boolean): RunStateError => {
  const forkAsks = fork.status === "awaiting-input" && fork.waiting?.kind !== "breakpoint"
  return new RunStateError({
    runId: run.run_id,
    status: run.status,
    operation: "resume",
    message: `run ${run.run_id} is a child run of fork ${fork.run_id}${run.parent_run_id !== fork.run_id ? ` (through run ${run.parent_run_id})` : ""}, ` +
      "which answers its calls from the recording of the run it was forked from only when the fork drives it: " +
      `${answering ? "answered" : "resumed"} directly it would run without that recording and make live calls past it, so it was not ${answering ? "answered" : "resumed"} (nothing was changed)`,
    fix: forkDescendantFix(fork.run_id, forkAsks, forkAsks && live),
    forkRunId: fork.run_id
  })
}

/**
 * The refusal of editing the state of `run` (`update-state`), a descendant of `fork`: the
 * fork drives it against the recording of its parent's child step by step, and an edit
 * step would put it a step off that recording (as an edit of the fork itself would). The
 * fix forks the fork again from its last step with the state wanted and live calls allowed
 * (its node starts a new child run from that state, with inputs the recording does not
 * have), each way of doing it. Nothing was written.
 */
export const forkDescendantEditRefusal = (run: RunRecord, fork: RunRecord): RunStateError =>
  new RunStateError({
    runId: run.run_id,
    status: run.status,
    operation: "update-state",
    message: `run ${run.run_id} is a child run of fork ${fork.run_id}${run.parent_run_id !== fork.run_id ? ` (through run ${run.parent_run_id})` : ""}, ` +
      "which drives it against the recording of the run it was forked from step by step: an edit step would put it a step off that recording, " +
      "so its state was not edited (nothing was written)",
    fix: `fork ${fork.run_id} again from its last step with the state you want instead, with live calls allowed ` +
      "(its node starts a new child run from that state, whose inputs the recording does not have): " +
      `stargraph replay ${fork.run_id} --from-step ${fork.last_step} --mutation '{"state_overrides": {…}}' --live-after-fork on the CLI, ` +
      `POST /v1/runs/${fork.run_id}/counterfactual with {"from_step": ${fork.last_step}, "mutation": {"state_overrides": {…}}, "live_after_fork": true} over HTTP, ` +
      `Replay.fork(graph, "${fork.run_id}", { fromStep: ${fork.last_step}, mutation: { state_overrides: {…} }, liveAfterFork: true }) in an app; ` +
      `or answer or resume fork ${fork.run_id} as it is`,
    forkRunId: fork.run_id
  })
