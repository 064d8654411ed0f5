/**
 * A run created with its first commit (`RunCommit.create`) whose idempotency key another
 * run holds already: the commit is refused, and nothing of it is written.
 */
import { CheckpointError } from "../errors.js"
import type { NewRun } from "./models.js"

/** `CheckpointError[run-changed]` for `run`, whose idempotency key run `existing` holds (in `filename`, when given). */
export const keyTaken = (run: NewRun, existing: string, filename?: string): CheckpointError =>
  new CheckpointError({
    reason: "run-changed",
    runId: existing,
    ...(filename !== undefined ? { filename } : {}),
    message: `run ${run.run_id ?? "(new)"} was not created: run ${existing} holds its idempotency key '${run.idempotency_key}' already ` +
      "(another process started the same child run); nothing of its commit was written"
  })
