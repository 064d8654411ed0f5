/**
 * How a counterfactual fork waiting for input is answered when what follows the answer may
 * not be in its parent's recording: with live calls allowed (`--live-after-fork`,
 * `live_after_fork`, `liveAfterFork`), named the same way by the CLI's hint and the fix of
 * a fork's child run answered directly. (Answered without them, the fork runs on as far as
 * its recording answers its calls, and fails at the first it cannot answer.)
 */

/** The CLI command that answers fork `runId` with live calls allowed (`db`: its `--db` part, if any). */
export const forkAnswerCommand = (runId: string, db = ""): string =>
  `stargraph respond ${runId}${db} --response '<json>' --live-after-fork`

