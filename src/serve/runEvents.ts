/**
 * A run's event stream for HTTP clients. A run executing in this process streams its
 * live events (past ones first). Any other run (finished, queued, or driven by another
 * process on the same database) is followed through its checkpoints: past steps first,
 * then new ones as they land, then its final event.
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Stream from "effect/Stream"
import type { CheckpointerShape } from "../checkpoint/Checkpointer.js"
import { type Checkpoint, type RunRecord, STOPPED_STATUSES } from "../checkpoint/models.js"
import { CheckpointError } from "../errors.js"
import type { RunEvent } from "../runtime/events.js"
import type { SchedulerShape } from "../scheduler/Scheduler.js"
import { redactErrorRecord } from "../triggers/httpError.js"

const finalEvent = (run: RunRecord, state: { readonly [k: string]: unknown }, base: { run_id: string; seq: number; at: string }): RunEvent | undefined => {
  switch (run.status) {
    case "done":
      return { ...base, type: "run.finished", status: "done", steps: run.last_step, final_state: state }
    case "failed":
    case "error":
      return { ...base, type: "run.failed", status: run.status, error: run.error ?? { type: "Unknown", message: "", details: {} } }
    case "cancelled":
      return { ...base, type: "run.cancelled", step: run.last_step }
    case "paused":
      return { ...base, type: "run.paused", step: run.last_step }
    case "awaiting-input":
      return run.waiting ? { ...base, type: "run.waiting", waiting: run.waiting } : undefined
    default:
      return undefined
  }
}

/**
 * When `run` stopped, the same on every read: when it finished, asked (`waiting.asked_at`;
 * a wait recorded without it: its last step's end), or paused (after its last step).
 */
const stoppedAt = (run: RunRecord, latest: Checkpoint | undefined): string =>
  run.finished_at ?? run.waiting?.asked_at ?? latest?.finished_at ?? run.started_at ?? run.created_at

const stepEvent = (cp: Checkpoint, seq: number): RunEvent => ({
  run_id: cp.run_id,
  seq,
  at: cp.finished_at,
  type: "step.completed",
  step: cp.step,
  nodes: cp.nodes,
  delta: cp.delta,
  next: cp.next,
  duration_ms: cp.duration_ms
})

/** Follow a run through the checkpoint store until it stops. */
const fromStore = (checkpointer: CheckpointerShape, runId: string, pollMs: number): Stream.Stream<RunEvent, CheckpointError> =>
  Stream.unwrap(Effect.gen(function*() {
    const record = yield* checkpointer.getRun(runId)
    if (Option.isNone(record)) {
      return Stream.fail(new CheckpointError({ reason: "unknown-run", runId, message: `no run '${runId}'` }))
    }
    let seq = 0
    let lastStep = 0
    let done = false
    const first: RunEvent = {
      run_id: runId,
      seq: seq++,
      at: record.value.started_at ?? record.value.created_at,
      type: "run.started",
      graph_id: record.value.graph_id,
      graph_hash: record.value.graph_hash,
      from_step: 0,
      resumed: false
    }
    const poll = Effect.gen(function*() {
      const found = yield* checkpointer.getRun(runId)
      if (Option.isNone(found)) return yield* new CheckpointError({ reason: "unknown-run", runId, message: `run '${runId}' vanished` })
      const run = found.value
      const checkpoints = yield* checkpointer.listCheckpoints(runId)
      const events: Array<RunEvent> = []
      for (const cp of checkpoints) {
        if (cp.step > lastStep) {
          events.push(stepEvent(cp, seq++))
          lastStep = cp.step
        }
      }
      if (STOPPED_STATUSES.has(run.status)) {
        const latest = checkpoints[checkpoints.length - 1]
        const last = finalEvent(run, latest?.state ?? {}, { run_id: runId, seq: seq++, at: stoppedAt(run, latest) })
        if (last) events.push(last)
        done = true
      }
      return events
    })
    return Stream.concat(Stream.make(first), pollStream(poll, () => done, pollMs))
  }))

const pollStream = (
  poll: Effect.Effect<Array<RunEvent>, CheckpointError>,
  isDone: () => boolean,
  pollMs: number
): Stream.Stream<RunEvent, CheckpointError> =>
  Stream.paginateEffect(true, (first: boolean) =>
    Effect.gen(function*() {
      if (!first) yield* Effect.sleep(Duration.millis(pollMs))
      const events = yield* poll
      const next: Option.Option<boolean> = isDone() ? Option.none() : Option.some(false)
      return [events, next] as const
    })).pipe(Stream.mapConcat((events) => events))

/** A `run.failed` event's error without stack traces or server file paths (see `redact`). */
const forTheWire = (event: RunEvent): RunEvent => (event.type === "run.failed" ? { ...event, error: redactErrorRecord(event.error) } : event)

/** The events of `runId`: live when it executes here, otherwise followed through the store. */
export const runEvents = (
  scheduler: SchedulerShape,
  checkpointer: CheckpointerShape,
  runId: string,
  pollMs = 250
): Stream.Stream<RunEvent, CheckpointError> =>
  Stream.map(
    Option.match(scheduler.live(runId), {
      onSome: (run) => run.stream(),
      onNone: () => fromStore(checkpointer, runId, pollMs)
    }),
    forTheWire
  )
