/**
 * The per-step persistence contract. Provide `SqliteCheckpointer.layer(...)`,
 * `MemoryCheckpointer.layer`, or your own Layer of this Tag.
 */
import * as Context from "effect/Context"
import type * as Effect from "effect/Effect"
import type * as Option from "effect/Option"
import type { CheckpointError } from "../errors.js"
import type { Checkpoint, NewRun, RunPage, RunPatch, RunQuery, RunRecord } from "./models.js"

/** Operations every Checkpointer implements. Each write is atomic. */
export interface CheckpointerShape {
  /** Mint a run id and persist the run record and its step-0 checkpoint in one transaction. */
  readonly createRun: (run: NewRun) => Effect.Effect<RunRecord, CheckpointError>
  /**
   * Persist one step's checkpoint, and optionally a run-record change, in one
   * transaction. A second checkpoint for the same `(run_id, step)` is refused.
   */
  readonly commitStep: (checkpoint: Checkpoint, patch?: RunPatch) => Effect.Effect<void, CheckpointError>
  /** Change the run record. */
  readonly updateRun: (runId: string, patch: RunPatch) => Effect.Effect<void, CheckpointError>
  /** The run record, if the run exists. */
  readonly getRun: (runId: string) => Effect.Effect<Option.Option<RunRecord>, CheckpointError>
  /** The run with this idempotency key, if any. */
  readonly findByIdempotencyKey: (key: string) => Effect.Effect<Option.Option<RunRecord>, CheckpointError>
  /** The highest-step checkpoint of a run. */
  readonly latestCheckpoint: (runId: string) => Effect.Effect<Option.Option<Checkpoint>, CheckpointError>
  /** Every checkpoint of a run, by step. */
  readonly listCheckpoints: (runId: string) => Effect.Effect<ReadonlyArray<Checkpoint>, CheckpointError>
  /** Runs, newest first, filtered and cursor-paginated. */
  readonly listRuns: (query: RunQuery) => Effect.Effect<RunPage, CheckpointError>
}

/** The Checkpointer service tag. */
export class Checkpointer extends Context.Tag("stargraph/Checkpointer")<Checkpointer, CheckpointerShape>() {}
