/**
 * The audit record of a refused answer (`answer.refused`): an answer to a run that was not
 * applied, because the wait it named is not the run's current one, another answer to that
 * wait was applied first, the run is a fork's child run answered directly, its value does
 * not fit the waited field, or the run waits for no answer (ended, paused, timed out…).
 * Written through the `AuditSink` where the answer is refused (`Graph.resume`, the run
 * loop's take-over, `Scheduler.resume`, the HTTP respond handler): exactly one record per
 * refused answer. It changes nothing about the refusal or the run.
 *
 * The answer's value is not written: only its SHA-256 (`response_sha256`, of its RFC 8785
 * canonical JSON, as `sha256:<hex>`), so a refused value (which may be anything a client
 * sent) never enters the permanent log, yet a known payload can be matched to the record.
 */
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import type { RunRecord } from "../checkpoint/models.js"
import { waitIdOf } from "../checkpoint/waitId.js"
import type { RunStateError, StateValidationError } from "../errors.js"
import { hashJson } from "../ir/hash.js"
import { AuditSink, type AuditSinkShape, discard } from "../telemetry/AuditSink.js"

/** The `event` of a refused answer's audit record. */
export const ANSWER_REFUSED_EVENT = "answer.refused"

/**
 * Why an answer was refused: `wait-moved` (the wait it named is not the run's current one,
 * and nothing says the run took an answer to it: an id it never waited at, or a wait it
 * left unanswered), `answered-first` (another answer to that wait was applied first: the
 * loser of two answers, or an answer after the run went on, also when it names that wait),
 * `fork-descendant` (a fork's child run answered directly), `invalid-value` (a value that
 * does not fit the waited field, or, given through the library, is not JSON: then
 * `response_sha256` is null), `not-waiting` (the run waits for no answer: ended, paused,
 * running, at a breakpoint, or the child run it waited on settled), `timed-out` (past the
 * wait's deadline), `not-a-fork` (live calls after a fork asked for a run that is not a
 * fork), `other` (another process or handle drives the run, or it changed since it was
 * read). Text that does not parse as JSON (`respond --response`, an HTTP body) is refused
 * before any answer is attempted, as bad input, and writes no record.
 */
export const AnswerRefusedReason = Schema.Literal("wait-moved", "answered-first", "fork-descendant", "invalid-value", "not-waiting", "timed-out", "not-a-fork", "other")
/** See {@link AnswerRefusedReason}. */
export type AnswerRefusedReason = typeof AnswerRefusedReason.Type

/** The audit record of a refused answer, as written (snake_case). */
export const AnswerRefused = Schema.Struct({
  /** When it was refused (ISO 8601). */
  ts: Schema.String,
  /** Who answered, as the run's other records name actors: `cli` (or `--actor`), `http:<address>`, a library caller's `actor` (else the run's), `subgraph:<parent run>`. */
  actor: Schema.String,
  event: Schema.Literal(ANSWER_REFUSED_EVENT),
  run_id: Schema.String,
  /** The wait the answer named (`--wait-id`, `wait_id`, `waitId`); null when it named none. */
  wait_id: Schema.NullOr(Schema.String),
  /** The wait the run waits at now, as read when the answer was refused; null when it waits at none. */
  current_wait_id: Schema.NullOr(Schema.String),
  reason: AnswerRefusedReason,
  /** The typed error the answer was refused with, and its message. */
  error: Schema.Literal("RunStateError", "StateValidationError"),
  message: Schema.String,
  /** `sha256:<hex>` of the answer's canonical JSON; null for a value that has none. */
  response_sha256: Schema.NullOr(Schema.String)
})
/** See {@link AnswerRefused}. */
export type AnswerRefused = typeof AnswerRefused.Type

/** A refused answer, where it was refused. */
export interface AnswerRefusal {
  readonly runId: string
  readonly actor: string
  /** The answer's value. */
  readonly value: unknown
  /** The wait the answer named, if any. */
  readonly waitId: string | undefined
  /** The run's record as read when the answer was refused (undefined: gone, or not known there). */
  readonly run: RunRecord | undefined
  readonly reason: AnswerRefusedReason
  readonly error: RunStateError | StateValidationError
}

/** The wait `run` waits at now (awaiting input), if any. */
export const currentWaitId = (run: RunRecord | undefined): string | null =>
  run !== undefined && run.status === "awaiting-input" && run.waiting !== null && run.waiting !== undefined ? waitIdOf(run.waiting) : null

/** `sha256:<hex>` of the value's canonical JSON; null for one that has none (a cycle, a bigint). */
const responseHash = (value: unknown): string | null => {
  try {
    return hashJson(value)
  } catch {
    return null
  }
}

/** The record of `refusal`, refused at `ts`. */
export const answerRefusedRecord = (refusal: AnswerRefusal, ts: string): AnswerRefused => ({
  ts,
  actor: refusal.actor,
  event: ANSWER_REFUSED_EVENT,
  run_id: refusal.runId,
  wait_id: refusal.waitId ?? null,
  current_wait_id: currentWaitId(refusal.run),
  reason: refusal.reason,
  error: refusal.error._tag,
  message: refusal.error.message,
  response_sha256: responseHash(refusal.value)
})

/** Write `refusal`'s record to `audit` (nothing for the discarding sink). Never fails. */
export const auditAnswerRefused = (audit: AuditSinkShape, refusal: AnswerRefusal): Effect.Effect<void> =>
  audit === discard
    ? Effect.void
    : Effect.flatMap(Clock.currentTimeMillis, (ms) => audit.write(answerRefusedRecord(refusal, new Date(ms).toISOString())))

/** Fail with `refusal`'s error, its record written first to the context's `AuditSink`. */
export const refuseAnswer = <E extends RunStateError | StateValidationError>(refusal: AnswerRefusal & { readonly error: E }): Effect.Effect<never, E> =>
  Effect.zipRight(Effect.flatMap(AuditSink, (audit) => auditAnswerRefused(audit, refusal)), Effect.fail(refusal.error))
