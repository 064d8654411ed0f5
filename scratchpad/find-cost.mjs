// µs per findByIdempotencyKey (absent key) on SQLite NORMAL, built library: node scratchpad/find-cost.mjs
import { mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as Effect from "effect/Effect"
const { Checkpointer } = await import("../dist/src/checkpoint/Checkpointer.js")
const Sqlite = await import("../dist/src/checkpoint/SqliteCheckpointer.js")
const layer = Sqlite.layer({ filename: join(mkdtempSync(join(tmpdir(), "fc-")), "t.sqlite"), synchronous: "NORMAL" })
await Effect.runPromise(Effect.gen(function*() {
  const c = yield* Checkpointer
  for (let r = 0; r < 3; r++) {
    const N = 20000
    const t = performance.now()
    for (let i = 0; i < N; i++) yield* c.findByIdempotencyKey(`k${i}`)
    console.log("find us", ((performance.now() - t) * 1000 / N).toFixed(1))
  }
}).pipe(Effect.provide(layer)))
