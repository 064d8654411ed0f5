/**
 * Cron schedules on Effect's `Cron` module, one fiber per spec. Each tick enqueues one
 * run with idempotency key `trigger:` + sha256(trigger_id || scheduled_fire), so a restart or two
 * processes on one database never double-fire a tick. The last fired tick is a durable
 * cursor; ticks missed while nothing ran are handled by the spec's `catch_up` policy.
 */
import * as Clock from "effect/Clock"
import * as Cron from "effect/Cron"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import { TriggerError } from "../errors.js"
import { AuditSink } from "../telemetry/AuditSink.js"
import { Metrics } from "../telemetry/Metrics.js"
import type { Trigger, TriggerDeps } from "./Trigger.js"
import { nextTick, ticksBetween } from "./cronTicks.js"
import { idempotencyKeyOf } from "./TriggerEvent.js"
import { firstIssue } from "../ir/parseIssue.js"
import { checkThreadId } from "../graph/threads.js"
import { checkTriggerModel } from "./triggerModels.js"

/** What to do with ticks missed while no process was running the schedule. */
export const CatchUp = Schema.Literal("latest", "all", "none")

/** One schedule (a `schedules:` entry of `stargraph.yaml`). */
export const CronSpec = Schema.Struct({
  id: Schema.String.pipe(Schema.minLength(1)),
  /** Graph id (or, in `stargraph.yaml`, a graph file resolved to its id). */
  graph: Schema.String,
  cron: Schema.String,
  /** IANA time zone the expression is read in (default UTC). */
  timezone: Schema.optionalWith(Schema.String, { default: () => "UTC" }),
  params: Schema.optionalWith(Schema.Record({ key: Schema.String, value: Schema.Unknown }), { default: () => ({}) }),
  /** `latest` (default): run the most recent missed tick once; `all`: every missed tick (at most 100); `none`: skip them. */
  catch_up: Schema.optionalWith(CatchUp, { default: () => "latest" as const }),
  /** Start every tick's run on this thread: each continues from the state the previous tick's run finished with. */
  thread_id: Schema.optional(Schema.String),
  /**
   * With `thread_id`: a tick passes over the thread's newest failed or cancelled runs and
   * continues from the newest done run before them (default false: the schedule's runs
   * are refused until an operator moves it on).
   */
  thread_skip_failed: Schema.optional(Schema.Boolean)
})
/** One schedule. */
export type CronSpec = typeof CronSpec.Type
/** One schedule as written (`timezone`, `params` and `catch_up` may be left to their defaults). */
export type CronSpecInput = typeof CronSpec.Encoded

/** Apply a schedule's defaults and check its fields (unknown ones refused). */
const decodeSpec = (input: CronSpecInput): Either.Either<CronSpec, TriggerError> =>
  Either.mapLeft(Schema.decodeUnknownEither(CronSpec, { onExcessProperty: "error" })(input), (error) => {
    const issue = firstIssue(error)
    const id = typeof input?.id === "string" ? input.id : "?"
    return new TriggerError({
      reason: "invalid-config",
      triggerId: `cron:${id}`,
      message: `schedule '${id}': ${(issue?.path ?? []).join(".") || "<spec>"}: ${issue?.message ?? "invalid"}`,
      fix: "give id, graph and cron; timezone (default UTC), params (default {}), catch_up (latest, all or none; default latest), thread_id and thread_skip_failed (true or false) are optional"
    })
  })

/** A parsed schedule. */
interface Compiled {
  readonly spec: CronSpec
  readonly triggerId: string
  readonly cron: Cron.Cron
}

const MAX_CATCH_UP = 100

/** Validate specs: parse each expression in its time zone, refuse duplicate ids. */
export const compile = (specs: ReadonlyArray<CronSpec>): Either.Either<ReadonlyArray<Compiled>, TriggerError> => {
  const seen = new Set<string>()
  const out: Array<Compiled> = []
  for (const spec of specs) {
    const triggerId = `cron:${spec.id}`
    if (seen.has(spec.id)) {
      return Either.left(new TriggerError({ reason: "duplicate-trigger", triggerId, message: `two schedules have the id '${spec.id}'`, fix: "give every schedule a unique id" }))
    }
    seen.add(spec.id)
    const invalid = (message: string) =>
      Either.left(new TriggerError({ reason: "invalid-cron", triggerId, message: `invalid cron expression '${spec.cron}': ${message}`, fix: "use five fields (minute hour day-of-month month day-of-week), e.g. \"0 2 * * *\"" }))
    // Effect's parser also takes a leading seconds field; a schedule here has five.
    if (spec.cron.trim() === "") return invalid("the expression is empty")
    const fields = spec.cron.trim().split(/\s+/).length
    if (fields !== 5) return invalid(`${fields} ${fields === 1 ? "field" : "fields"}, not five`)
    const parsed = Cron.parse(spec.cron, spec.timezone)
    if (Either.isLeft(parsed)) {
      const zone = /time ?zone/i.test(parsed.left.message)
      return Either.left(new TriggerError({
        reason: zone ? "unknown-timezone" : "invalid-cron",
        triggerId,
        message: zone ? `unknown time zone '${spec.timezone}'` : `invalid cron expression '${spec.cron}': ${parsed.left.message}`,
        fix: zone ? "use an IANA zone name such as Europe/Berlin or UTC" : "use five fields (minute hour day-of-month month day-of-week), e.g. \"0 2 * * *\""
      }))
    }
    // A date that never comes (the 31st of February) would never fire: refuse it.
    try {
      Cron.next(parsed.right, new Date())
    } catch {
      return invalid("it never fires (no date matches it)")
    }
    const thread = spec.thread_id === undefined ? undefined : checkThreadId(spec.thread_id, "thread_id")
    if (thread !== undefined && Either.isLeft(thread)) {
      return Either.left(new TriggerError({ reason: "invalid-config", triggerId, message: `schedule '${spec.id}': thread_id: ${thread.left.message}`, fix: thread.left.fix }))
    }
    if (spec.thread_skip_failed === true && spec.thread_id === undefined) {
      return Either.left(new TriggerError({
        reason: "invalid-config",
        triggerId,
        message: `schedule '${spec.id}': thread_skip_failed: it passes over the failed and cancelled runs of the schedule's thread, and the schedule has no thread_id`,
        fix: "give the schedule a thread_id (the thread every tick's run continues), or remove thread_skip_failed"
      }))
    }
    out.push({ spec, triggerId, cron: parsed.right })
  }
  return Either.right(out)
}

/** The cron trigger over validated specs, defaults applied (fails on the first bad spec). */
export const make = (specs: ReadonlyArray<CronSpecInput>): Effect.Effect<Trigger, TriggerError> =>
  Effect.map(Either.flatMap(Either.all(specs.map(decodeSpec)), compile), (compiled) => {
    let deps: TriggerDeps | undefined
    let fibers: Array<Fiber.RuntimeFiber<unknown, unknown>> = []

    /**
     * Enqueue a tick's run and move the cursor past it. Each tick is one audit line
     * (`trigger.cron.tick`, with its `run_id` and the `skipped_runs` of its thread it passed
     * over, or the `error` it could not be enqueued with):
     * a missed or failed schedule shows in the audit log, not only in the server's log.
     */
    const fire = (c: Compiled, tick: Date) =>
      Effect.gen(function*() {
        const scheduled = tick.toISOString()
        const audit = yield* AuditSink
        const line = (fields: Record<string, unknown>) =>
          Effect.flatMap(Clock.currentTimeMillis, (now) => audit.write({ ts: new Date(now).toISOString(), actor: c.triggerId, event: "trigger.cron.tick", graph_id: c.spec.graph, scheduled_for: scheduled, ...fields }))
        const key = idempotencyKeyOf(c.triggerId, scheduled)
        const enqueued = yield* Effect.either(
          deps!.scheduler.enqueue(c.spec.graph, c.spec.params, { idempotencyKey: key, idempotency: "event", actor: c.triggerId, threadId: c.spec.thread_id, skipFailed: c.spec.thread_skip_failed })
        )
        const metrics = yield* Metrics
        metrics.triggerDispatched(c.triggerId, "cron", Either.isLeft(enqueued) ? "failure" : enqueued.right.deduplicated ? "deduplicated" : "success")
        if (Either.isLeft(enqueued)) {
          const e = enqueued.left
          yield* line({ error: { type: e._tag, message: e.message } })
          return yield* Effect.logError(`${c.triggerId}: could not enqueue the ${scheduled} tick: ${e.message}`)
        }
        const skipped = enqueued.right.skipped
        yield* line({ run_id: enqueued.right.runId, deduplicated: enqueued.right.deduplicated, ...(skipped !== undefined ? { skipped_runs: skipped.map((r) => r.run_id) } : {}) })
        if (skipped !== undefined) {
          yield* Effect.logWarning(`${c.triggerId}: the ${scheduled} tick's run ${enqueued.right.runId} passed over thread ${c.spec.thread_id}'s ${skipped.map((r) => `${r.status} run ${r.run_id}`).join(", ")} (thread_skip_failed)`)
        }
        yield* deps!.checkpointer.setCursor(c.triggerId, scheduled)
      }).pipe(Effect.catchAll((e) => Effect.logError(`${c.triggerId}: could not record the ${tick.toISOString()} tick: ${e.message}`)))

    const loop = (c: Compiled) =>
      Effect.gen(function*() {
        const now = new Date(yield* Clock.currentTimeMillis)
        const cursor = yield* deps!.checkpointer.getCursor(c.triggerId)
        if (Option.isNone(cursor)) {
          yield* deps!.checkpointer.setCursor(c.triggerId, now.toISOString())
        } else if (c.spec.catch_up !== "none") {
          const missed = ticksBetween(c.cron, new Date(cursor.value), now, c.spec.catch_up === "latest" ? 1 : MAX_CATCH_UP)
          const due = c.spec.catch_up === "latest" ? missed.slice(-1) : missed
          for (const tick of due) yield* fire(c, tick)
        }
        while (true) {
          const at = yield* Clock.currentTimeMillis
          const next = nextTick(c.cron, new Date(at))
          yield* Effect.sleep(Duration.millis(Math.max(0, next.getTime() - at)))
          yield* fire(c, next)
        }
      }).pipe(Effect.catchAll((e) => Effect.logError(`${c.triggerId}: stopped: ${e.message}`)))

    return {
      name: "cron",
      // Registered: a schedule whose graph needs a model nobody gives is refused now, not at every tick.
      init: (d) =>
        Effect.zipRight(
          Effect.forEach(compiled, (c) =>
            Effect.flatMap(Effect.option(d.registry.get(c.spec.graph)), (graph) =>
              graph._tag === "Some" ? checkTriggerModel(`schedule '${c.spec.id}'`, graph.value) : Effect.void), { discard: true }),
          Effect.sync(() => {
            deps = d
          })
        ),
      start: () =>
        Effect.gen(function*() {
          fibers = []
          for (const c of compiled) fibers.push(yield* Effect.forkDaemon(loop(c)))
        }),
      stop: () => Effect.forEach(fibers, Fiber.interrupt, { discard: true }),
      routes: () => []
    }
  })
