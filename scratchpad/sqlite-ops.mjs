// Per-operation cost of SqliteCheckpointer reads and writes (built library), NORMAL.
import { mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as Effect from "effect/Effect"
import { Checkpointer } from "../dist/src/checkpoint/Checkpointer.js"
import * as SqliteCheckpointer from "../dist/src/checkpoint/SqliteCheckpointer.js"
const filename = join(mkdtempSync(join(tmpdir(), "ops-")), "db.sqlite")
const step = (n) => ({ step: n, node: "n", nodes: ["n"], state: { counter: n }, writes: [], delta: {}, next: ["n"], joins: {}, graph_hash: "g", runtime_hash: "r", parent_run_id: null, parent_step: null, started_at: "2026-01-01T00:00:00.000Z", finished_at: "2026-01-01T00:00:00.000Z", duration_ms: 0 })
const newRun = (i) => ({ graph_id: "g", graph_hash: "g", runtime_hash: "r", inputs: {}, idempotency_key: `k-${i}-${Math.random()}`, created_at: "2026-01-01T00:00:00.000Z", initial: step(0), running: { owner: "me", started_at: "2026-01-01T00:00:00.000Z" } })
const N = 3000
await Effect.runPromise(Effect.gen(function*() {
  const c = yield* Checkpointer
  for (let r = 0; r < 3; r++) {
    let t = performance.now()
    for (let i = 0; i < N; i++) yield* c.findByIdempotencyKey(`missing-${i}`)
    const find = (performance.now() - t) / N * 1000
    t = performance.now()
    const ids = []
    for (let i = 0; i < N; i++) ids.push((yield* c.createRun(newRun(i))).record.run_id)
    const create = (performance.now() - t) / N * 1000
    t = performance.now()
    for (let i = 0; i < N; i++) yield* c.commitSteps([{ ...step(1), run_id: ids[i] }])
    const commit = (performance.now() - t) / N * 1000
    t = performance.now()
    for (let i = 0; i < N; i++) yield* c.createRun({ ...newRun(i), history: [step(1)] })
    const createWith = (performance.now() - t) / N * 1000
    console.log({ find_us: find.toFixed(1), create_us: create.toFixed(1), commit_us: commit.toFixed(1), create_with_step_us: createWith.toFixed(1) })
  }
}).pipe(Effect.provide(SqliteCheckpointer.layer({ filename, synchronous: "NORMAL" }))))
