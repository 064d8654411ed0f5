import { describe, expect, it } from "vitest"
import { newRunId } from "../../src/checkpoint/runId.js"

describe("newRunId", () => {
  it("is a version 7 UUID whose first 48 bits are the creation time", () => {
    const at = Date.UTC(2026, 10, 28, 15, 40, 0, 123)
    const id = newRunId("run", at)
    expect(id).toMatch(/^run-[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/)
    expect(parseInt(id.slice(4, 12) + id.slice(13, 17), 16)).toBe(at)
  })

  it("sorts later ids after earlier ones, and two ids of one millisecond differ", () => {
    const ids = [1, 2, 1_000, 1_000_000, Date.UTC(2026, 0, 1), Date.UTC(2099, 0, 1)].map((ms) => newRunId("cf", ms))
    expect([...ids].sort()).toEqual(ids)
    expect(newRunId("run", 5)).not.toBe(newRunId("run", 5))
  })

  it("clamps a time it cannot encode instead of making a malformed id", () => {
    for (const ms of [Number.NaN, -5, Number.POSITIVE_INFINITY, 2 ** 60]) {
      expect(newRunId("run", ms)).toMatch(/^run-[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/)
    }
    expect(newRunId("run", -5).slice(4, 17)).toBe("00000000-0000")
    expect(newRunId("run", 2 ** 60).slice(4, 17)).toBe("ffffffff-ffff")
  })
})
