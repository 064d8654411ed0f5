/**
 * How a counterfactual fork waiting for input is answered when what follows the answer is
 * not in its parent's recording: with live calls allowed (`--live-after-fork`,
 * `live_after_fork`, `liveAfterFork`), named the same way by the CLI's hint, the refusal of
 * an answer the recording cannot follow, and the divergence of a fork answered anyway.
 */

/** The CLI command that answers fork `runId` with live calls allowed (`db`: its `--db` part, if any). */
export const forkAnswerCommand = (runId: string, db = ""): string =>
  `stargraph respond ${runId}${db} --response '<json>' --live-after-fork`

/** The HTTP request that does the same. */
export const forkAnswerRequest = (runId: string): string =>
  `POST /v1/runs/${runId}/respond with {"response": <JSON>, "live_after_fork": true}`

/** The fix for a fork answered where its recording cannot go on: each way of answering it with live calls allowed. */
export const forkAnswerFix = (runId: string): string =>
  `answer it with live calls allowed: ${forkAnswerCommand(runId)} on the CLI, ${forkAnswerRequest(runId)} over HTTP, ` +
  `resume options { response, liveAfterFork: true } in an app (calls that match the recording are still answered from it)`
