// CPU profile target: SqliteCheckpointer.createRun under NORMAL (built library).
import { mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as Effect from "effect/Effect"
import { Checkpointer } from "../dist/src/checkpoint/Checkpointer.js"
import * as SqliteCheckpointer from "../dist/src/checkpoint/SqliteCheckpointer.js"
const filename = join(mkdtempSync(join(tmpdir(), "ops-")), "db.sqlite")
const step = (n) => ({ step: n, node: "n", nodes: ["n"], state: { counter: n }, writes: [], delta: {}, next: ["n"], joins: {}, graph_hash: "g", runtime_hash: "r", parent_run_id: null, parent_step: null, started_at: "2026-01-01T00:00:00.000Z", finished_at: "2026-01-01T00:00:00.000Z", duration_ms: 0 })
const newRun = (i) => ({ graph_id: "g", graph_hash: "g", runtime_hash: "r", inputs: {}, idempotency_key: `k-${i}-${Math.random()}`, created_at: "2026-01-01T00:00:00.000Z", initial: step(0), running: { owner: "me", started_at: "2026-01-01T00:00:00.000Z" } })
await Effect.runPromise(Effect.gen(function*() {
  const c = yield* Checkpointer
  const t = performance.now()
  for (let i = 0; i < 20000; i++) yield* c.createRun(newRun(i))
  console.log("create µs", ((performance.now() - t) / 20).toFixed(1))
}).pipe(Effect.provide(SqliteCheckpointer.layer({ filename, synchronous: "NORMAL" }))))
