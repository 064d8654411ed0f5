/**
 * Live calls after a fork (`--live-after-fork`, `live_after_fork`, `liveAfterFork`) asked
 * for when answering or resuming a run that is not a counterfactual fork: such a run has no
 * parent's recording to answer its calls from (it makes them live anyway), so the option
 * means nothing there. Refused before anything changes rather than ignored, naming the
 * option and the command without it.
 */
import type { RunRecord } from "../checkpoint/models.js"
import { RunStateError } from "../errors.js"

/** How a library caller spells the option in `ResumeOptions` (the `field` of the refusal). */
export const LIVE_AFTER_FORK_OPTION = "liveAfterFork"

/**
 * The refusal of answering (`answering`) or resuming `run`, which is not a fork, with live
 * calls after a fork allowed. Nothing was changed.
 */
export const liveAfterForkRefusal = (run: RunRecord, answering: boolean): RunStateError =>
  new RunStateError({
    runId: run.run_id,
    status: run.status,
    operation: "resume",
    message: `run ${run.run_id} is not a counterfactual fork (it was not made by forking another run), ` +
      "so live calls after a fork (--live-after-fork on the CLI, live_after_fork over HTTP, liveAfterFork in an app) do not apply to it: " +
      `it has no parent's recording to answer its calls from and makes them live anyway. It was not ${answering ? "answered" : "resumed"} (nothing was changed)`,
    fix: answering
      ? `answer it without the option: stargraph respond ${run.run_id} --response '<json>' on the CLI, ` +
        `POST /v1/runs/${run.run_id}/respond with {"response": <JSON>} over HTTP, resume options { response } without liveAfterFork in an app`
      : `resume it without the option: stargraph resume ${run.run_id} on the CLI, POST /v1/runs/${run.run_id}/resume over HTTP, ` +
        "resume options without liveAfterFork in an app",
    field: LIVE_AFTER_FORK_OPTION
  })
