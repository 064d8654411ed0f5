// Does a plain Effect loop promote short-lived data? (old-space growth per iteration)
import v8 from "node:v8"
import * as Effect from "effect/Effect"
import * as Deferred from "effect/Deferred"
import * as Ref from "effect/Ref"
import * as PubSub from "effect/PubSub"
const old = () => v8.getHeapSpaceStatistics().find((s) => s.space_name === "old_space").space_used_size
const body = Effect.gen(function*() {
  let state = { counter: 0, log: [] }
  const events = []
  for (let i = 0; i < 10; i++) {
    const u = yield* Effect.sync(() => ({ counter: state.counter + 1, log: [`n${i}`] }))
    state = { counter: u.counter, log: [...state.log, ...u.log] }
    events.push({ type: "step", i, state, at: new Date().toISOString() })
    yield* Effect.exit(Effect.interruptible(Effect.succeed(u)))
  }
  return events.length
})
const forked = Effect.gen(function*() {
  const d = yield* Deferred.make()
  yield* Effect.fork(Effect.uninterruptible(Effect.flatMap(Effect.exit(body), (e) => Deferred.done(d, e))))
  return yield* Deferred.await(d)
})
const handle = Effect.gen(function*() {
  const status = yield* Ref.make("pending"); const control = yield* Ref.make("run"); const started = yield* Ref.make(false)
  const hub = yield* PubSub.unbounded()
  const d = yield* Deferred.make()
  yield* Effect.fork(Effect.uninterruptible(Effect.flatMap(Effect.exit(Effect.zipRight(Ref.get(control), body)), (e) => Deferred.done(d, e))))
  return yield* Deferred.await(d)
})
await Effect.runPromise(Effect.gen(function*() {
  for (const [name, eff] of Object.entries({ inline: body, forked, handle })) {
    for (let i = 0; i < 2000; i++) yield* eff
    global.gc(); const before = old(); const R = 4000
    for (let i = 0; i < R; i++) yield* eff
    const grown = old() - before; global.gc()
    console.log(name, "old-space growth per iteration", Math.round(grown / R), "after GC", Math.round((old() - before) / R))
  }
}))
