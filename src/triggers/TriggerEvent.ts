/**
 * What a trigger emits: the unit the Scheduler deduplicates on. Unknown fields are
 * rejected (the spec's `extra='forbid'`); `payload` is the escape hatch.
 */
import { createHash } from "node:crypto"
import * as Effect from "effect/Effect"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import { InputError } from "../errors.js"

/** One trigger firing. */
export const TriggerEvent = Schema.Struct({
  /** Stable id of the emitting trigger instance, e.g. `cron:nightly-cve-feed`. */
  trigger_id: Schema.String.pipe(Schema.minLength(1)),
  /** The canonical fire time (ISO 8601): the cron tick, or receipt time for webhook/manual. */
  scheduled_fire: Schema.String.pipe(Schema.filter((s) => !Number.isNaN(Date.parse(s)), { message: () => "not an ISO 8601 time" })),
  /** Dedup key: cron sha256(trigger_id || scheduled_fire), webhook sha256(trigger_id || body_hash), manual caller-supplied. */
  idempotency_key: Schema.String.pipe(Schema.minLength(1)),
  /** Parameters forwarded to the run. */
  payload: Schema.Record({ key: Schema.String, value: Schema.Unknown })
})
/** One trigger firing. */
export type TriggerEvent = typeof TriggerEvent.Type

/** Decode a TriggerEvent, refusing unknown fields. */
export const decodeTriggerEvent = (input: unknown): Effect.Effect<TriggerEvent, InputError> =>
  Schema.decodeUnknown(TriggerEvent, { onExcessProperty: "error" })(input).pipe(
    Effect.mapError((error) => {
      const issue = ParseResult.ArrayFormatter.formatErrorSync(error)[0]
      return new InputError({
        field: (issue?.path ?? []).map(String).join(".") || "<event>",
        message: issue?.message ?? "invalid TriggerEvent",
        fix: "a TriggerEvent has exactly trigger_id, scheduled_fire, idempotency_key and payload"
      })
    })
  )

/** sha256 hex of `parts` joined with `||`. */
export const idempotencyKeyOf = (...parts: ReadonlyArray<string>): string =>
  createHash("sha256").update(parts.join("||")).digest("hex")
