import { it } from "@effect/vitest"
import * as Chunk from "effect/Chunk"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Stream from "effect/Stream"
import * as TestClock from "effect/TestClock"
import { describe, expect } from "vitest"
import { lastEventIdOf, parseLastEventId, withKeepAlive } from "../../src/serve/sse.js"

describe("SSE streams", () => {
  it.effect("a quiet stream gets a keep-alive every interval (none at the start) and still ends with its last event", () =>
    Effect.gen(function*() {
      // Two events 40 s apart: beats at 15 s and 30 s in between, none after the end.
      const events = Stream.concat(Stream.make("a"), Stream.fromEffect(Effect.as(Effect.sleep(Duration.seconds(40)), "b")))
      const fiber = yield* Effect.fork(Stream.runCollect(events.pipe(withKeepAlive(Duration.seconds(15), "beat"))))
      yield* TestClock.adjust(Duration.seconds(100))
      expect(Chunk.toArray(yield* Fiber.join(fiber))).toEqual(["a", "beat", "beat", "b"])
    }))

  it.effect("reads Last-Event-ID as a position, or nothing when it is not one", () =>
    Effect.sync(() => {
      expect(parseLastEventId("7")).toEqual({ step: 7, ended: false, stop: undefined })
      expect(parseLastEventId(" 12.end ")).toEqual({ step: 12, ended: true, stop: undefined })
      expect(parseLastEventId("12.end.paused")).toEqual({ step: 12, ended: true, stop: "paused" })
      expect(parseLastEventId("3.end.w0123456789ab")).toEqual({ step: 3, ended: true, stop: "w0123456789ab" })
      expect(parseLastEventId("3.end.other")).toBeUndefined()
      expect(parseLastEventId("abc")).toBeUndefined()
      expect(parseLastEventId(undefined)).toBeUndefined()
    }))

  it.effect("takes the Last-Event-ID header, else the lastEventId query parameter event-source-polyfill sends instead", () =>
    Effect.sync(() => {
      expect(lastEventIdOf("3", "/v1/runs/r/stream?lastEventId=7")).toBe("3")
      expect(lastEventIdOf(undefined, "/v1/runs/r/stream?_=1&lastEventId=7.end&lastEventId=9")).toBe("7.end")
      expect(lastEventIdOf(undefined, "/v1/runs/r/stream?lastEventId=3.end.w0123456789ab")).toBe("3.end.w0123456789ab")
      expect(lastEventIdOf(undefined, "/v1/runs/r/stream?_=1")).toBeUndefined()
      expect(lastEventIdOf(undefined, "/v1/runs/r/stream")).toBeUndefined()
    }))
})
