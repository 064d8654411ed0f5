import * as Cron from "effect/Cron"
import * as Either from "effect/Either"
import { describe, expect, it } from "vitest"
import { nextTick, ticksBetween } from "../../src/triggers/cronTicks.js"

const cron = (expr: string, tz: string) => Either.getOrThrow(Cron.parse(expr, tz))
const iso = (ds: ReadonlyArray<Date>) => ds.map((d) => d.toISOString())

describe("cron ticks across daylight-saving changes", () => {
  it("a schedule that runs every hour fires in both copies of the hour a fall-back repeats; one at set hours once", () => {
    // Europe/Berlin, 2026-10-25: 03:00 CEST (01:00Z) goes back to 02:00 CET; 02:xx local happens twice.
    const every15 = cron("*/15 * * * *", "Europe/Berlin")
    const ticks = ticksBetween(every15, new Date("2026-10-25T00:20:00Z"), new Date("2026-10-25T02:20:00Z"), 100)
    expect(iso(ticks)).toEqual([
      "2026-10-25T00:30:00.000Z", "2026-10-25T00:45:00.000Z",
      "2026-10-25T01:00:00.000Z", "2026-10-25T01:15:00.000Z", "2026-10-25T01:30:00.000Z", "2026-10-25T01:45:00.000Z",
      "2026-10-25T02:00:00.000Z", "2026-10-25T02:15:00.000Z"
    ])
    const hourly = cron("0 * * * *", "Europe/Berlin")
    expect(iso(ticksBetween(hourly, new Date("2026-10-24T23:30:00Z"), new Date("2026-10-25T02:30:00Z"), 100)))
      .toEqual(["2026-10-25T00:00:00.000Z", "2026-10-25T01:00:00.000Z", "2026-10-25T02:00:00.000Z"])
    // 02:30 local at a set hour: once (the first copy), as cron does.
    const nightly = cron("30 2 * * *", "Europe/Berlin")
    expect(iso(ticksBetween(nightly, new Date("2026-10-24T12:00:00Z"), new Date("2026-10-26T12:00:00Z"), 100)))
      .toEqual(["2026-10-25T00:30:00.000Z", "2026-10-26T01:30:00.000Z"])
    // Away from a change, the same ticks as effect/Cron's.
    const plain = new Date("2026-07-01T10:07:00Z")
    expect(nextTick(every15, plain).toISOString()).toBe(Cron.next(every15, plain).toISOString())
  })

  it("catch-up after a long outage keeps the last ticks without stepping through every missed one", () => {
    const minutely = cron("* * * * *", "UTC")
    const now = new Date("2027-01-01T00:00:30Z")
    const t0 = performance.now()
    const latest = ticksBetween(minutely, new Date("2026-01-01T00:00:00Z"), now, 1)
    const last100 = ticksBetween(minutely, new Date("2026-01-01T00:00:00Z"), now, 100)
    // A year of minutes is 525,600 ticks; this reads about 100 of them.
    expect(performance.now() - t0).toBeLessThan(2000)
    expect(iso(latest)).toEqual(["2027-01-01T00:00:00.000Z"])
    expect(last100).toHaveLength(100)
    expect(iso(last100.slice(-2))).toEqual(["2026-12-31T23:59:00.000Z", "2027-01-01T00:00:00.000Z"])
    // A short outage: every tick after the cursor, none at or before it.
    expect(iso(ticksBetween(minutely, new Date("2026-12-31T23:57:00Z"), now, 100)))
      .toEqual(["2026-12-31T23:58:00.000Z", "2026-12-31T23:59:00.000Z", "2027-01-01T00:00:00.000Z"])
  })
})
