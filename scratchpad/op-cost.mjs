// Cost of one yield* of a trivial Effect inside Effect.gen, and of Effect.sync, on this machine
import * as Effect from "effect/Effect"
const N = 200000
for (const round of [1, 2, 3]) {
  await Effect.runPromise(Effect.gen(function*() {
    let t = performance.now()
    for (let i = 0; i < N; i++) yield* Effect.void
    const a = (performance.now() - t) * 1000 / N
    t = performance.now()
    for (let i = 0; i < N; i++) yield* Effect.sync(() => i)
    const b = (performance.now() - t) * 1000 / N
    t = performance.now()
    for (let i = 0; i < N; i++) yield* Effect.flatMap(Effect.succeed(i), (x) => Effect.succeed(x + 1))
    const c = (performance.now() - t) * 1000 / N
    t = performance.now()
    for (let i = 0; i < N; i++) yield* Effect.gen(function*() { return yield* Effect.succeed(i) })
    const d = (performance.now() - t) * 1000 / N
    console.log(JSON.stringify({ round, void_us: a.toFixed(3), sync_us: b.toFixed(3), flatMap_us: c.toFixed(3), nested_gen_us: d.toFixed(3) }))
  }))
}
