/**
 * The ticks of a cron schedule, as cron runs them across daylight-saving changes.
 *
 * `effect/Cron` steps through wall-clock times, so in the hour a fall-back change repeats
 * (02:00–02:59 twice in Europe/Berlin on the last Sunday of October) it fires only the
 * first copy. Cron fires a schedule that runs every hour (`0 * * * *`, every 15 minutes)
 * in both copies, by real time, and one set at given hours (`30 2 * * *`) once per wall
 * time: so do these ticks. Spring-forward gaps are `effect/Cron`'s (the missing wall
 * times are skipped).
 */
import * as Cron from "effect/Cron"
import * as DateTime from "effect/DateTime"
import * as Option from "effect/Option"

const HOUR = 3_600_000

/** The schedule's UTC offset at `at`, in its time zone (the process's when it names none). */
const offsetAt = (cron: Cron.Cron, at: Date): number =>
  DateTime.zonedOffset(DateTime.unsafeMakeZoned(at, { timeZone: Option.getOrUndefined(cron.tz) }))

/** The first tick after `after`. */
export const nextTick = (cron: Cron.Cron, after: Date): Date => {
  const next = Cron.next(cron, after)
  // From inside a repeated hour, effect/Cron may answer a time of its first copy (before `after`).
  const forward = next.getTime() > after.getTime()
  const bound = forward ? next : Cron.next(cron, new Date(after.getTime() + HOUR))
  // No fall-back from an hour before `after` to the tick: nothing was skipped.
  if (forward && offsetAt(cron, new Date(after.getTime() - HOUR)) <= offsetAt(cron, next)) return next
  const everyHour = cron.hours.size === 0 || cron.hours.size === 24
  const step = [...cron.seconds].some((s) => s !== 0) ? 1000 : 60_000
  for (let t = Math.floor(after.getTime() / step) * step + step; t < bound.getTime(); t += step) {
    const at = new Date(t)
    if (!Cron.match(cron, at)) continue
    // A wall time the hour's first copy had (the offset an hour before was larger): again only every hour.
    if (!everyHour && offsetAt(cron, new Date(t - HOUR)) > offsetAt(cron, at)) continue
    return at
  }
  return bound
}

/**
 * The ticks after `cursor` up to `now`, at most the last `limit` of them, found without
 * stepping through the whole outage: the scan starts `limit` ticks before `now`.
 */
export const ticksBetween = (cron: Cron.Cron, cursor: Date, now: Date, limit: number): ReadonlyArray<Date> => {
  let from = cursor
  let back = new Date(now.getTime() + 1)
  // One tick further back than the ones kept: the scan starts after it (past the cursor).
  for (let i = 0; i <= limit; i++) {
    back = Cron.prev(cron, back)
    if (back.getTime() <= cursor.getTime()) break
    if (i === limit) from = back
  }
  const ticks: Array<Date> = []
  for (let tick = nextTick(cron, from); tick.getTime() <= now.getTime(); tick = nextTick(cron, tick)) {
    ticks.push(tick)
    if (ticks.length > limit) ticks.shift()
  }
  return ticks
}
