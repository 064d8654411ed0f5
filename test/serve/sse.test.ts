import { it } from "@effect/vitest"
import * as Chunk from "effect/Chunk"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import * as Stream from "effect/Stream"
import * as TestClock from "effect/TestClock"
import { describe, expect } from "vitest"
import type { RunEvent } from "../../src/runtime/events.js"
import { identified, lastEventIdOf, parseLastEventId, resumeAfter, withKeepAlive } from "../../src/serve/sse.js"

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
      expect(parseLastEventId("7.3")).toEqual({ step: 7, seq: 3, ended: false, stop: undefined })
      expect(parseLastEventId("7.0")).toBeUndefined()
      expect(parseLastEventId("3.end.other")).toBeUndefined()
      expect(parseLastEventId("abc")).toBeUndefined()
      expect(parseLastEventId(undefined)).toBeUndefined()
    }))

  it.effect("numbers the events of the step being run after their step, so a reconnect made mid-step gets the ones it missed", () =>
    Effect.gen(function*() {
      const at = "2026-01-01T00:00:00.000Z"
      const events = [
        { type: "run.started", from_step: 0 },
        { type: "step.started", step: 1, nodes: ["a"] },
        { type: "node.delta", step: 1, node: "a", text: "x" },
        { type: "step.completed", step: 1 },
        { type: "step.started", step: 2, nodes: ["b"] },
        { type: "node.delta", step: 2, node: "b", text: "y" },
        { type: "node.delta", step: 2, node: "b", text: "z" },
        { type: "step.completed", step: 2 },
        { type: "run.finished", status: "done", steps: 2 }
      ].map((e) => ({ run_id: "r", at, ...e }) as unknown as RunEvent)
      const ids = (from: string | undefined) =>
        Effect.map(Stream.runCollect(resumeAfter(identified(Stream.fromIterable(events)), parseLastEventId(from))), (c) => Chunk.toArray(c).map((e) => e.id))
      expect(yield* ids(undefined)).toEqual(["0", "0.1", "0.2", "1", "1.1", "1.2", "1.3", "2", "2.end"])
      // Saw step 1's end: all of step 2's events, those sent before the reconnect too.
      expect(yield* ids("1")).toEqual(["1.1", "1.2", "1.3", "2", "2.end"])
      // Saw step 2's first delta (its second event): the rest.
      expect(yield* ids("1.2")).toEqual(["1.3", "2", "2.end"])
      expect(yield* ids("2")).toEqual(["2.end"])
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
