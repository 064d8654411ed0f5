/**
 * The per-step persistence contract. Provide `SqliteCheckpointer.layer(...)`,
 * `PgCheckpointer.layer(...)`, `MemoryCheckpointer.layer`, or your own Layer of this Tag.
 */
import * as Context from "effect/Context"
import type * as Effect from "effect/Effect"
import type * as Option from "effect/Option"
import type { CheckpointError } from "../errors.js"
import type { Checkpoint, CreatedRun, NewRun, PendingFilter, PendingRun, RunPage, RunPatch, RunQuery, RunRecord, RunStatus, TakenOver } from "./models.js"

/** Operations every Checkpointer implements. Each write is atomic. */
export interface CheckpointerShape {
  /**
   * Mint a run id and persist the run record, its step-0 checkpoint and (when `queued`)
   * its `pending_runs` row in one transaction. A run whose idempotency key already
   * exists is returned instead, with `created: false`, and nothing is written.
   */
  readonly createRun: (run: NewRun) => Effect.Effect<CreatedRun, CheckpointError>
  /** `createRun` for several runs in one transaction (group commit), results in order. */
  readonly createRuns: (runs: ReadonlyArray<NewRun>) => Effect.Effect<ReadonlyArray<CreatedRun>, CheckpointError>
  /**
   * Persist consecutive steps' checkpoints of one run (usually one; a replay batches the
   * steps it served from the cassette), and optionally a run-record change, in one
   * transaction. A second checkpoint for the same `(run_id, step)` is refused. With
   * `options.expected`, a compare-and-set: see `CommitOptions.expected`.
   */
  readonly commitSteps: (
    checkpoints: readonly [Checkpoint, ...Array<Checkpoint>],
    patch?: RunPatch,
    options?: CommitOptions
  ) => Effect.Effect<void, CheckpointError>
  /**
   * Several runs' `commitSteps` in one transaction, in order, all or nothing: each commit
   * is made as `commitSteps` makes it (its owner checked, its patch applied), and when one
   * of them cannot be made nothing is written and the first failure is the error. How a
   * child run's last step (the run ended) is committed with the parent step that records
   * its outcome: one transaction where there were two. Commits with `expected` are not
   * taken. Optional: without it the runtime commits them one at a time.
   */
  readonly commitTogether?: ((commits: readonly [RunCommit, ...Array<RunCommit>]) => Effect.Effect<void, CheckpointError>) | undefined
  /**
   * Change the run record. Here and in `commitSteps`, a patch that stops the run (any
   * status but `running`/`pending`) also removes its `pending_runs` row, and a patch
   * that sets it `pending` puts it on the queue (unclaimed), atomically.
   */
  readonly updateRun: (runId: string, patch: RunPatch) => Effect.Effect<void, CheckpointError>
  /**
   * Compare and set: apply `patch` only if the record's `status` and `owner` are still
   * `expected` (what the caller read), atomically; false when another process changed
   * them first (or the run is gone). How a process takes a run over to drive it: two
   * processes resuming one run cannot both win. A take-over that stops the run takes it
   * off the queue; one that sets it `pending` puts it on the queue (unclaimed), in the
   * same transaction: a run answered or resumed through the queue is never `pending`
   * without its row, whenever the process dies.
   */
  readonly takeOver: (runId: string, expected: TakeOverExpectation, patch: RunPatch) => Effect.Effect<boolean, CheckpointError>
  /**
   * Every take-over of a run, oldest first: each write that takes a run over (a patch with
   * `taken_over`, in `takeOver`, `claimPending`, `updateRun` or `commitSteps`) also appends
   * it to the run's take-over history, in the same transaction, while `taken_over` on the
   * record keeps the latest. Empty for a run never taken over, or unknown. Optional: without
   * it only the latest (`taken_over`) is known.
   */
  readonly listTakeOvers?: ((runId: string) => Effect.Effect<ReadonlyArray<TakenOver>, CheckpointError>) | undefined
  /** The run record, if the run exists. */
  readonly getRun: (runId: string) => Effect.Effect<Option.Option<RunRecord>, CheckpointError>
  /**
   * Whether the run exists, read without decoding its record: how the server checks that a
   * finished run it keeps in memory was not deleted since (a prune by another process).
   * Optional: without it `getRun` answers.
   */
  readonly hasRun?: ((runId: string) => Effect.Effect<boolean, CheckpointError>) | undefined
  /** The run with this idempotency key, if any. */
  readonly findByIdempotencyKey: (key: string) => Effect.Effect<Option.Option<RunRecord>, CheckpointError>
  /** The highest-step checkpoint of a run. */
  readonly latestCheckpoint: (runId: string) => Effect.Effect<Option.Option<Checkpoint>, CheckpointError>
  /** Every checkpoint of a run, by step. */
  readonly listCheckpoints: (runId: string) => Effect.Effect<ReadonlyArray<Checkpoint>, CheckpointError>
  /** Runs, newest first, filtered and cursor-paginated. */
  readonly listRuns: (query: RunQuery) => Effect.Effect<RunPage, CheckpointError>
  /**
   * Claim an unclaimed queued run for `owner` and mark it `running` (owner, started_at;
   * `error` cleared, `waiting` cleared unless it keeps an answer given to the run,
   * `waiting.given`, which the run consumes when it continues) in one transaction; false when it is already claimed (or gone). With `expected`, the
   * run's owner must still be `expected.owner` (what the caller read: none, or a dead
   * process), else nothing changes and the result is false: a process that took the run
   * over meanwhile keeps it. With `takenOver` (the claim takes the run over from a process
   * that held it: a dead one, one whose lease lapsed), it is recorded on the run's record
   * (`taken_over`) in the same transaction.
   */
  readonly claimPending: (
    runId: string,
    owner: string,
    at: string,
    expected?: { readonly owner: string | null } | undefined,
    takenOver?: TakenOver | undefined
  ) => Effect.Effect<boolean, CheckpointError>
  /**
   * Put a run back on the queue, unclaimed (a row enqueued `at`; an existing row has its
   * claim released): what a draining server does with the runs it stopped, so the next
   * process resumes them. An unknown run is `CheckpointError{reason: "unknown-run"}`.
   */
  readonly requeue: (runId: string, at: string) => Effect.Effect<void, CheckpointError>
  /** Remove a run from the queue (it reached a terminal or stopped state). */
  readonly completePending: (runId: string) => Effect.Effect<void, CheckpointError>
  /** Release every claim held by `owner` (a drained or dead process) so others pick the runs up. */
  readonly releaseClaims: (owner: string) => Effect.Effect<number, CheckpointError>
  /**
   * The queue, oldest first; with `filter`, only claimed (or unclaimed) rows, of the given
   * graphs: a server reads the rows it can run, past any number of rows it cannot.
   */
  readonly listPending: (limit: number, filter?: PendingFilter) => Effect.Effect<ReadonlyArray<PendingRun>, CheckpointError>
  /**
   * How many runs wait in the queue (unclaimed rows), by graph id; graphs with none are
   * left out. Read by `GET /metrics` (`stargraph_queue_depth`), for every process on the
   * database. Optional: without it the unclaimed rows `listPending` gives are counted.
   */
  readonly countPending?: Effect.Effect<ReadonlyMap<string, number>, CheckpointError> | undefined
  /** A durable per-trigger cursor (e.g. a cron trigger's last fired tick). */
  readonly getCursor: (key: string) => Effect.Effect<Option.Option<string>, CheckpointError>
  /** Store a per-trigger cursor. */
  readonly setCursor: (key: string, value: string) => Effect.Effect<void, CheckpointError>
  /**
   * Store `claim.value` under cursor `claim.key` (written at `claim.at`, ISO) unless the key
   * holds a value already, and return the value it holds then: the one just stored, or the
   * one found. Atomic over every process on the database: of concurrent claims of one key,
   * one wins and all read its value (how a webhook binds a signed timestamp and nonce to the
   * first delivery id sent with them). First, the cursors under `claim.drop.prefix` written
   * before `claim.drop.before` are deleted (claims that outlived their use). Optional:
   * without it a caller reads and then writes, which two processes may interleave.
   */
  readonly claimCursor?: ((claim: CursorClaim) => Effect.Effect<string, CheckpointError>) | undefined
  /**
   * Record a beat of process `owner`'s heartbeat (see `Heartbeat`): its counter goes up by
   * one, stamped with the database's clock, with the lease it declares (ms). Optional, as
   * are `endHeartbeat` and `heartbeats`: a Checkpointer without them keeps no heartbeats,
   * and no run is handed over when a lease lapses (a process on another host counts as
   * alive, as before leases).
   */
  readonly beat?: ((owner: string, leaseMs: number) => Effect.Effect<void, CheckpointError>) | undefined
  /** Remove process `owner`'s heartbeat (it stopped cleanly, its runs handed back first). */
  readonly endHeartbeat?: ((owner: string) => Effect.Effect<void, CheckpointError>) | undefined
  /** The heartbeats of those of `owners` that have one, each with its age by the database's clock. */
  readonly heartbeats?: ((owners: ReadonlyArray<string>) => Effect.Effect<ReadonlyArray<HeartbeatRecord>, CheckpointError>) | undefined
  /**
   * Remove the heartbeats that are stale (see {@link HeartbeatStaleness}: processes killed
   * long ago, which never removed their row), except those of owners that still own a
   * `running` run or hold a queue claim (their beat is what hands those over); returns the
   * owners removed. With `dryRun`, removes nothing and returns who would go. Optional (with
   * the other heartbeat operations): without it the rows stay.
   */
  readonly sweepHeartbeats?: ((staleness: HeartbeatStaleness, dryRun?: boolean) => Effect.Effect<ReadonlyArray<string>, CheckpointError>) | undefined
  /**
   * Ask process `owner` to cancel run `runId` through the run's record: recorded only
   * while the run is `running` under `owner` (compare and set); false otherwise. The owner
   * reads its requests (`cancelRequests`) and cancels the run itself, as `cancel()` on its
   * handle does. Optional, as is `cancelRequests`: without them a run executing in another
   * process cannot be cancelled from here.
   */
  readonly requestCancel?: ((runId: string, owner: string) => Effect.Effect<boolean, CheckpointError>) | undefined
  /** The runs `owner` drives (`running` under it) that it was asked to cancel (`requestCancel`). */
  readonly cancelRequests?: ((owner: string) => Effect.Effect<ReadonlyArray<string>, CheckpointError>) | undefined
}

/** A claim of a cursor key (see `CheckpointerShape.claimCursor`). */
export interface CursorClaim {
  readonly key: string
  readonly value: string
  /** When it is written (ISO), the cursor's `updated_at`. */
  readonly at: string
  /** Delete the cursors whose key starts with `prefix` written before `before` (ISO) first. */
  readonly drop?: { readonly prefix: string; readonly before: string } | undefined
}

/**
 * When a heartbeat counts as stale (`sweepHeartbeats`): its beat has stood still, by the
 * database's clock, for longer than `minMs` and than `leases` times its own lease.
 */
export interface HeartbeatStaleness {
  readonly minMs: number
  readonly leases: number
}

/** A process's heartbeat as read (see `Checkpointer.heartbeats`). */
export interface HeartbeatRecord {
  /** The process (`host:pid:start`, as runs record their owner). */
  readonly owner: string
  /** How many times it beat: a beat that does not move for longer than its lease means the process lapsed. */
  readonly beat: number
  /** The lease it declares, ms: it beats every third of it. */
  readonly lease_ms: number
  /** When it last beat (ISO 8601, by the database's clock). */
  readonly beat_at: string
  /** How long ago that was when read, ms, by the same clock (for display: lapses are judged by the beat counter). */
  readonly age_ms: number
}

/** How `commitSteps` may make a commit durable. */
export interface CommitOptions {
  /**
   * Another commit, synced, follows this one before anything relies on it (a subgraph's
   * child run ends, and its parent's step commit records the outcome): the Checkpointer
   * may commit without waiting for the disk (SQLite `FULL` commits it as `NORMAL` would).
   * The commit still survives a crash of the process; a power loss before the following
   * commit loses both, which the parent's resume redoes. A Checkpointer may ignore it.
   */
  readonly syncFollows?: boolean | undefined
  /**
   * The process that drives the run (`OWNER`): the commit applies only while the run's
   * record still names it as owner, atomically; otherwise nothing is written and it fails
   * with `CheckpointError[taken-over]` (another process took the run over after this one's
   * lease lapsed). A Checkpointer may ignore it (then a process that lost its run may still
   * write its steps).
   */
  readonly owner?: string | undefined
  /**
   * Write only while the run record's `status` and `owner` are still these, and no step
   * after `step` is committed (default: the step before the first checkpoint), checked in
   * the transaction that writes: else nothing is written and the commit fails with
   * `CheckpointError[run-changed]`. How a step is added to a run no process drives (an edit
   * of a stopped run's state): a resume or another edit that got there first wins alone.
   * Unlike `syncFollows` and `owner`, a Checkpointer must honour it. With `owner` too, both hold.
   */
  readonly expected?: TakeOverExpectation | undefined
}

/** One run's commit among others (see `CheckpointerShape.commitTogether`): `commitSteps`' arguments. */
export interface RunCommit {
  readonly checkpoints: readonly [Checkpoint, ...Array<Checkpoint>]
  readonly patch?: RunPatch | undefined
  /** As for `commitSteps`, without `expected`. */
  readonly options?: Omit<CommitOptions, "expected"> | undefined
}

/** The `status` and `owner` a run record must still have for `takeOver` to apply. */
export interface TakeOverExpectation {
  readonly status: RunStatus
  readonly owner: string | null
  /**
   * And no step after this one is committed (the run's latest checkpoint is still the one
   * the caller read and will go on from): a process that committed a step after the read
   * (a previous owner that woke up from a stall) keeps the run, and a run whose state was
   * edited since it was read (a step added while it was stopped) is not taken over from
   * the stale step. A Checkpointer must honour it (`commitSteps` with `expected` reads it too).
   */
  readonly step?: number | undefined
  /**
   * And the run still waits at this wait (its `waiting`'s id, `waitIdOf`): an answer that
   * names the question it answers is applied only to that question, never to another the
   * run asked since at the same status, owner and step (a node that asks again, the next
   * item of a `map`). Read in the write's transaction. `takeOver` must honour it.
   */
  readonly waitId?: string | undefined
}

/** The Checkpointer service tag. */
export class Checkpointer extends Context.Tag("stargraph/Checkpointer")<Checkpointer, CheckpointerShape>() {}
