// Same plain Effect work as promo2's "handle", at the top of a program vs inside Effect.gen with Layers provided.
import v8 from "node:v8"
import * as Effect from "effect/Effect"
import * as Deferred from "effect/Deferred"
import * as Ref from "effect/Ref"
import * as MemoryCheckpointer from "../dist/src/checkpoint/MemoryCheckpointer.js"
const old = () => v8.getHeapSpaceStatistics().find((s) => s.space_name === "old_space").space_used_size
const body = Effect.gen(function*() {
  const events = []
  for (let i = 0; i < 22; i++) { const u = yield* Effect.sync(() => ({ i })); events.push({ type: "e", i, u }) }
  return events.length
})
const handle = Effect.gen(function*() {
  const control = yield* Ref.make("run")
  const d = yield* Deferred.make()
  yield* Effect.fork(Effect.uninterruptible(Effect.flatMap(Effect.exit(Effect.zipRight(Ref.get(control), body)), (e) => Deferred.done(d, e))))
  return yield* Deferred.await(d)
})
const measure = (label) => Effect.gen(function*() {
  for (let i = 0; i < 2000; i++) yield* handle
  global.gc(); const before = old(); const R = 4000
  for (let i = 0; i < R; i++) yield* handle
  const grown = old() - before
  console.log(label, "old-space growth per iteration", Math.round(grown / R))
})
await Effect.runPromise(measure("bare"))
await Effect.runPromise(measure("with layer").pipe(Effect.provide(MemoryCheckpointer.layer)))
