/**
 * `--lease`: how long this process's heartbeat may stand still before a process on another
 * host takes its runs over (see `Heartbeat`), for the commands that drive runs (`run`,
 * `resume`, `respond`, `replay`, `serve`). Written with a unit: `30s`, `500ms`, `2m`.
 */
import { Options } from "@effect/cli"
import * as Effect from "effect/Effect"
import { InputError } from "../errors.js"
import { checkLease, DEFAULT_LEASE_MS } from "../runtime/Heartbeat.js"
import { hostProblem } from "../runtime/owner.js"

/** The `--lease` flag (text; {@link parseLease} reads it). */
export const leaseOption = Options.text("lease").pipe(
  Options.withDefault(`${DEFAULT_LEASE_MS / 1000}s`),
  Options.withDescription(
    "how long this process's heartbeat may stand still before a server on another host takes its runs over, with a unit: 500ms, 30s, 2m; " +
      "it beats every third of it (default: 30s)"
  )
)

const UNIT_MS: { readonly [unit: string]: number } = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }

/** A number with a unit (`500ms`, `30s`, `2m`, `1h`) as milliseconds; undefined for anything else. */
export const durationMs = (text: string): number | undefined => {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m|h)$/.exec(text)
  return match === null ? undefined : Number(match[1]) * UNIT_MS[match[2]!]!
}

/** The longest duration {@link parseUpToAnHour} takes (ms): one hour. */
const HOUR_MS = 3_600_000

/**
 * A duration flag's text (`flag`, e.g. `--wait`) as whole milliseconds from 0 to one hour,
 * or an `InputError` naming the flag; `examples` and `defaultText` go into the fix.
 */
export const parseUpToAnHour = (flag: string, text: string, examples: string, defaultText: string): Effect.Effect<number, InputError> => {
  const ms = durationMs(text)
  if (ms === undefined) {
    return Effect.fail(new InputError({ field: flag, message: `'${text}' is not a duration with a unit`, fix: `write a number and a unit: ${examples} (default: ${defaultText})` }))
  }
  return ms <= HOUR_MS && Number.isInteger(ms)
    ? Effect.succeed(ms)
    : Effect.fail(new InputError({ field: flag, message: `'${text}' is ${Number.isInteger(ms) ? "longer than an hour" : "not a whole number of milliseconds"}`, fix: `use 0ms to 1h, e.g. ${defaultText.split(",")[0]} (the default)` }))
}

/** Milliseconds as seconds for a message: `60 s`, `0.3 s`. */
export const secondsText = (ms: number): string => `${Number((ms / 1000).toFixed(3))} s`

/**
 * `--lease`'s text as milliseconds, or an `InputError` naming the flag: a number with a
 * unit, 100 ms to one day. A `STARGRAPH_HOST` an owner cannot hold is refused here too
 * (naming it): both before the command opens the database.
 */
export const parseLease = (text: string): Effect.Effect<number, InputError> => {
  const host = hostProblem()
  if (host !== undefined) return Effect.fail(host)
  const ms = durationMs(text)
  if (ms === undefined) {
    return Effect.fail(new InputError({ field: "--lease", message: `'${text}' is not a duration with a unit`, fix: "write a number and a unit: 500ms, 30s, 2m (default: 30s)" }))
  }
  const bad = checkLease(ms, "--lease")
  return bad === undefined ? Effect.succeed(ms) : Effect.fail(new InputError({ field: "--lease", message: `'${text}': ${bad.message}`, fix: "use 100ms to 24h, e.g. 30s (the default)" }))
}
