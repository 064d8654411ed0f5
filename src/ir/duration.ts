/** Durations written in the IR: seconds, ISO 8601 (`PT10M`), `HH:MM:SS` or Effect's form (`10 minutes`). */
import * as Duration from "effect/Duration"
import * as Option from "effect/Option"

/** Seconds, an ISO 8601 duration (`PT10M`), `[D ]HH:MM:SS`, or an Effect duration (`10 minutes`) → ms. */
export const timeoutMs = (raw: string): number | undefined => {
  if (raw === "") return undefined
  if (/^\d+(\.\d+)?$/.test(raw)) return Number(raw) * 1000
  // Python's timedelta text, as the original's YAML holds it: `[D day[s], ]HH:MM:SS[.f]` or `[D ]HH:MM:SS`.
  const clock = /^(?:(\d+)(?: days?,)? )?(\d+):([0-5]\d):([0-5]\d(?:\.\d+)?)$/.exec(raw)
  if (clock) {
    const [, d, h, m, s] = clock
    return ((Number(d ?? 0) * 24 + Number(h)) * 60 + Number(m)) * 60_000 + Number(s) * 1000
  }
  const iso = /^P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?$/.exec(raw)
  if (iso && raw !== "P" && raw !== "PT") {
    const [, d, h, m, s] = iso
    return ((Number(d ?? 0) * 24 + Number(h ?? 0)) * 60 + Number(m ?? 0)) * 60_000 + Number(s ?? 0) * 1000
  }
  return Option.getOrUndefined(Option.map(Duration.decodeUnknown(raw), Duration.toMillis))
}
