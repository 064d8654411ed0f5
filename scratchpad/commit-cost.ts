// How much of a checkpoint commit is @effect/sql overhead? N commitSteps calls vs the same insert on bare better-sqlite3.
import { mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import Database from "better-sqlite3"
import * as Effect from "effect/Effect"
import { Checkpointer } from "../src/checkpoint/Checkpointer.js"
import * as SqliteCheckpointer from "../src/checkpoint/SqliteCheckpointer.js"
import * as Graph from "../src/graph/Graph.js"

const N = 5000
const sync = (process.argv[2] ?? "NORMAL") as "FULL" | "NORMAL"
const dir = mkdtempSync(join(tmpdir(), "cc-"))
const ir = { ir_version: "1.0.0", id: "g", state_schema: { fields: { n: { type: "integer", default: 0 } } }, nodes: [{ id: "a", kind: "noop" }] }
await Effect.runPromise(Effect.gen(function*() {
  const g = yield* Graph.make(ir)
  const c = yield* Checkpointer
  const { record } = yield* c.createRun(yield* g.newRun({}))
  const base = (yield* c.listCheckpoints(record.run_id))[0]!
  const t0 = performance.now()
  for (let i = 1; i <= N; i++) yield* c.commitSteps([{ ...base, step: i, state: { n: i }, node: "a", nodes: ["a"] }])
  console.log("effect-sql commitSteps", sync, Math.round(N / ((performance.now() - t0) / 1000)), "commits/s")
}).pipe(Effect.provide(SqliteCheckpointer.layer({ filename: join(dir, "a.sqlite"), synchronous: sync }))))
const db = new Database(join(dir, "a.sqlite"))
db.pragma(`synchronous = ${sync}`)
const st = db.prepare("INSERT INTO checkpoints (run_id, step, node, nodes, state, writes, delta, next, joins, graph_hash, runtime_hash, parent_run_id, parent_step, started_at, finished_at, duration_ms, calls) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)")
const t1 = performance.now()
for (let i = 0; i < N; i++) st.run("bare", i, "a", "[\"a\"]", JSON.stringify({ n: i }), "[]", "{}", "[]", "{}", "sha256:x", "sha256:y", null, null, "t", "t", 0, "[]")
console.log("bare better-sqlite3", sync, Math.round(N / ((performance.now() - t1) / 1000)), "commits/s")
