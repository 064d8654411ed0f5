/**
 * What a trigger emits: the unit the Scheduler deduplicates on. Unknown fields are
 * rejected (the spec's `extra='forbid'`); `payload` is the escape hatch.
 */
import { createHash } from "node:crypto"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Schema from "effect/Schema"
import { InputError } from "../errors.js"
import { firstIssue } from "../ir/parseIssue.js"

/** One trigger firing. */
export const TriggerEvent = Schema.Struct({
  /** Stable id of the emitting trigger instance, e.g. `cron:nightly-cve-feed`. */
  trigger_id: Schema.String.pipe(Schema.minLength(1)),
  /** The canonical fire time (ISO 8601): the cron tick, or receipt time for webhook/manual. */
  scheduled_fire: Schema.String.pipe(Schema.filter((s) => !Number.isNaN(Date.parse(s)), { message: () => "not an ISO 8601 time" })),
  /** Dedup key: cron sha256(trigger_id || scheduled_fire), webhook sha256(trigger_id || delivery id, or signed timestamp || nonce), manual caller-supplied. */
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
      const issue = firstIssue(error)
      return new InputError({
        field: (issue?.path ?? []).map(String).join(".") || "<event>",
        message: issue?.message ?? "invalid TriggerEvent",
        fix: "a TriggerEvent has exactly trigger_id, scheduled_fire, idempotency_key and payload"
      })
    })
  )

/**
 * Prefixes of the idempotency keys Stargraph mints itself: triggers' (`trigger:`) and
 * subgraph child runs' (`subgraph:`). A key given by an API client or on the command line
 * may not start with one, so a client cannot take a webhook delivery, a cron tick or a
 * child run over by creating a run with its key first.
 */
export const RESERVED_KEY_PREFIXES = ["trigger:", "subgraph:"] as const

/** A trigger's idempotency key: `trigger:` and the sha256 hex of `parts` joined with `||` (the spec's `sha256(trigger_id || …)`). */
export const idempotencyKeyOf = (...parts: ReadonlyArray<string>): string =>
  `trigger:${createHash("sha256").update(parts.join("||")).digest("hex")}`

/** A plugin trigger's own key, in its own part of the trigger namespace, whatever it is (another trigger's key too). */
export const pluginKey = (plugin: string, key: string): string => `trigger:${plugin}:${key}`

/**
 * Refuse an idempotency key from outside (`field` names where it came from) that is blank
 * (an unset shell variable would make every run the first one) or starts with a reserved
 * prefix.
 */
export const checkClientKey = (key: string | undefined, field: string): Either.Either<string | undefined, InputError> => {
  if (key !== undefined && key.trim() === "") {
    return Either.left(new InputError({ field, message: "the idempotency key is empty", fix: "pass a key (e.g. an operation id), or leave the flag out for a run of its own" }))
  }
  const reserved = key === undefined ? undefined : RESERVED_KEY_PREFIXES.find((prefix) => key.startsWith(prefix))
  return reserved === undefined ? Either.right(key) : Either.left(new InputError({
    field,
    message: `idempotency key '${key}' starts with '${reserved}', which is reserved for the keys Stargraph gives its triggers' and subgraphs' runs`,
    fix: "choose a key that does not start with trigger: or subgraph: (e.g. prefix it with your client's name)"
  }))
}
