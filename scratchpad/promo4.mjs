// Which part of emitting a run event promotes? (old-space growth per iteration of 22 emits)
import v8 from "node:v8"
import * as Effect from "effect/Effect"
import * as Clock from "effect/Clock"
const old = () => v8.getHeapSpaceStatistics().find((s) => s.space_name === "old_space").space_used_size
const mk = (variant) => Effect.gen(function*() {
  const log = []
  const clock = yield* Effect.clock
  const emit = (input) => Effect.suspend(() => {
    const at = variant === "nodate" ? "2026" : new Date(clock.unsafeCurrentTimeMillis()).toISOString()
    const event = { ...input, run_id: "r", seq: log.length, at }
    log.push(event)
    return Effect.void
  })
  for (let i = 0; i < 22; i++) yield* emit({ type: "step.started", step: i, nodes: ["a"] })
  return log.length
})
const plain = Effect.sync(() => { const log = []; for (let i = 0; i < 22; i++) log.push({ type: "step.started", step: i, nodes: ["a"], run_id: "r", seq: i, at: new Date().toISOString() }); return log.length })
await Effect.runPromise(Effect.gen(function*() {
  for (const [name, eff] of Object.entries({ emit: mk("date"), emitNoDate: mk("nodate"), plain })) {
    for (let i = 0; i < 2000; i++) yield* eff
    global.gc(); const before = old(); const R = 4000
    for (let i = 0; i < R; i++) yield* eff
    const grown = old() - before; global.gc()
    console.log(name, "old-space growth per iteration", Math.round(grown / R), "after GC", Math.round((old() - before) / R))
  }
}))
