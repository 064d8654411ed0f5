/**
 * Following a run for `run`, `resume` and `replay`: print each step as it completes (see
 * `progress.ts`), turn Ctrl-C into pause / cancel of the run this process drives (see
 * `interrupt.ts`), then print the outcome from the database (summary block, final line,
 * error line) and set the exit code.
 */
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Console from "effect/Console"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import { Checkpointer } from "../checkpoint/Checkpointer.js"
import { STOPPED_STATUSES, toSummary } from "../checkpoint/models.js"
import type { GraphRun } from "../graph/GraphRun.js"
import { OWNER } from "../runtime/owner.js"
import { ExitCode, exitFor, setExit } from "./exit.js"
import { CLI_ABORT_GRACE_MS, interruptedLines, type Interrupts } from "./interrupt.js"
import type { Progress } from "./progress.js"
import { type Database, hintDb, shown } from "./database.js"
import { dbOption, finalLine, summaryBlock, waitingLines } from "./render.js"
import { getRun } from "./stores.js"

/** How `run` and `resume` print. */
export interface Verbosity {
  /** Only the final line. */
  readonly quiet: boolean
  /** No summary block. */
  readonly noSummary: boolean
  /** The summary as one JSON object instead of the text block. */
  readonly summaryJson?: boolean | undefined
}

/** What to follow. */
export interface FollowOptions {
  readonly runId: string
  /**
   * The run's live handle once it exists in this process, or None when the run stopped
   * without one being seen (its steps are then printed from the database).
   */
  readonly handle: Effect.Effect<Option.Option<GraphRun>>
  /** Completes once the run stopped (done, failed, paused, awaiting input, cancelled, error). */
  readonly stopped: Effect.Effect<unknown>
  readonly interrupts: Interrupts
  readonly progress: Progress
  /** The database, for the hint printed on a third Ctrl-C. */
  readonly db: Database
}

/**
 * Wait for a Scheduler-driven run's handle: polled until it is live, or until the run
 * stopped (`isStopped`) without becoming live here. A run's handle replays its events
 * from the first to a late subscriber, so seeing the handle at any point before it is
 * dropped is enough to print every step; when it is missed, `Progress.finish` prints the
 * steps from the checkpoints.
 */
export const awaitHandle = (
  live: () => Option.Option<GraphRun>,
  isStopped: Effect.Effect<boolean>
): Effect.Effect<Option.Option<GraphRun>> =>
  Effect.gen(function*() {
    while (true) {
      const handle = live()
      if (Option.isSome(handle)) return handle
      if (yield* isStopped) return Option.none()
      yield* Effect.sleep(Duration.millis(2))
    }
  })

/** How long a Ctrl-C waits for the run's handle before concluding another process drives it. */
const HANDLE_GRACE = Duration.seconds(2)

/**
 * Print steps and handle Ctrl-C until the run stops. Ctrl-C acts on the run's handle;
 * when none shows up (the run is driven by another process, e.g. an idempotency key that
 * matched its run), this process stops following instead.
 */
export const follow = (options: FollowOptions): Effect.Effect<void> =>
  Effect.scoped(Effect.gen(function*() {
    const { interrupts, progress, runId } = options
    const handle = yield* Deferred.make<Option.Option<GraphRun>>()
    const detached = yield* Deferred.make<void>()
    // What Ctrl-C asked for so far; applied to the handle whenever it is (or becomes) known.
    let intent: "pause" | "cancel" | undefined
    const apply = (run: GraphRun) => (intent === "cancel" ? run.cancel() : intent === "pause" ? run.pause() : Effect.void)
    yield* Effect.forkScoped(options.handle.pipe(
      Effect.tap((h) => Deferred.succeed(handle, h)),
      Effect.flatMap(Option.match({ onNone: () => Effect.void, onSome: apply }))
    ))
    yield* Effect.forkScoped(Effect.flatMap(Deferred.await(handle), Option.match({
      onNone: () => Effect.void,
      onSome: (run) => Stream.runForEach(run.stream(), progress.onEvent)
    })))
    if (progress.live) yield* Effect.forkScoped(Effect.repeat(progress.tick, Schedule.spaced(Duration.millis(100))))
    const onPress = (press: number): Effect.Effect<unknown, never, Scope.Scope> => {
      if (press >= 3) {
        return Effect.zipRight(
          progress.note(`^C exiting now; run ${runId} keeps its last checkpoint (continue it with: stargraph resume ${runId}${dbOption(hintDb(options.db))})`),
          Effect.sync(() => process.exit(ExitCode.interrupted))
        )
      }
      intent = press === 1 ? "pause" : "cancel"
      const notice = press === 1
        ? interrupts.terminated()
          ? `SIGTERM: pausing run ${runId} after the step in flight`
          : `^C pausing run ${runId} after the step in flight (Ctrl-C again to cancel it)`
        : `^C cancelling run ${runId} (a node in flight gets ${CLI_ABORT_GRACE_MS / 1000} s to stop on ctx.signal; Ctrl-C again to exit now)`
      return Effect.forkScoped(Deferred.await(handle).pipe(
        Effect.timeoutOption(HANDLE_GRACE),
        Effect.flatMap(Option.match({
          onNone: () => Deferred.succeed(detached, undefined),
          onSome: Option.match({ onNone: () => Effect.void, onSome: (run) => Effect.zipRight(progress.note(notice), apply(run)) })
        }))
      ))
    }
    yield* Effect.forkScoped(Stream.runForEach(interrupts.presses, onPress))
    yield* Effect.raceFirst(Effect.asVoid(options.stopped), Deferred.await(detached))
  }))

/**
 * Print a stopped run's outcome from the database: the steps not printed yet, the
 * summary block, the final `run_id=… status=…` line, the error line; set the exit code
 * (130 when Ctrl-C left it paused or cancelled, with the command to continue).
 */
export const report = (
  runId: string,
  options: Verbosity & {
    readonly db: Database
    readonly progress: Progress
    readonly interrupted: boolean
    /** Lines printed on stdout before the final line, after the summary (`replay --diff`'s RunDiff). */
    readonly before?: ReadonlyArray<string> | undefined
    /** The error line's text when the run's record carries none (how driving it failed). */
    readonly error?: string | undefined
  }
) =>
  Effect.gen(function*() {
    const checkpointer = yield* Checkpointer
    const record = yield* getRun(runId, options.db.location)
    // What the hints carry after --db (nothing for STARGRAPH_DB), never a password.
    const hint = hintDb(options.db)
    const checkpoints = yield* checkpointer.listCheckpoints(runId)
    yield* options.progress.finish(checkpoints)
    const summary = toSummary(record, checkpoints[checkpoints.length - 1]?.state ?? {})
    if (!options.quiet && !options.noSummary) {
      if (options.summaryJson === true) yield* Console.log(JSON.stringify({ ...summary, checkpoint: shown(options.db.location) }))
      else for (const line of summaryBlock(summary, record, checkpoints, hint)) yield* Console.log(line)
    }
    for (const line of options.before ?? []) yield* Console.log(line)
    yield* Console.log(finalLine(summary))
    const error = summary.error?.message ?? options.error
    if (error !== undefined) yield* Console.error(`error: ${error}`)
    // Without the summary block, a waiting run's question still shows (on stderr, like an error).
    if (options.quiet || options.noSummary) for (const line of waitingLines(summary, hint, record.live_after_fork)) yield* Console.error(line)
    if (!options.interrupted && !STOPPED_STATUSES.has(summary.status) && record.owner !== OWNER) {
      // This process stopped driving a run that goes on: another process took it over.
      yield* Console.error(
        `error: run ${runId} is ${summary.status}${record.owner !== null ? `, driven by ${record.owner}` : ""}: this process stopped driving it, ` +
          "taken over after its lease lapsed (it was stalled or cut off from the database for longer than --lease); " +
          `follow it with: stargraph inspect ${runId}${dbOption(hint)}`
      )
    }
    if (options.interrupted && !STOPPED_STATUSES.has(summary.status)) {
      yield* Console.error(`interrupted: run ${runId} is ${summary.status} in another process; this one stopped following it (see: stargraph inspect ${runId}${dbOption(hint)})`)
      return yield* setExit(ExitCode.interrupted)
    }
    if (options.interrupted && (summary.status === "paused" || summary.status === "cancelled")) {
      for (const line of interruptedLines(runId, summary.status, summary.steps, hint)) yield* Console.error(line)
      return yield* setExit(ExitCode.interrupted)
    }
    yield* setExit(exitFor(summary.status))
  })
