// Runs/s of a one-node noop graph: direct Graph.start vs through the Scheduler (compiled dist, file DB, NORMAL).
import { mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as Effect from "effect/Effect"
import * as Graph from "../dist/src/graph/Graph.js"
import * as SqliteCheckpointer from "../dist/src/checkpoint/SqliteCheckpointer.js"
const R = Number(process.argv[2] ?? 3000)
const ir = { ir_version: "1.0.0", id: "bench:noop", state_schema: { fields: { n: { type: "integer", default: 0 } } }, nodes: [{ id: "a", kind: "noop" }] }
const filename = join(mkdtempSync(join(tmpdir(), "rc-")), "db.sqlite")
await Effect.runPromise(Effect.gen(function*() {
  const graph = yield* Graph.make(ir)
  const once = Effect.flatMap(graph.start({ inputs: { n: 1 } }), (run) => run.start())
  for (let i = 0; i < 200; i++) yield* once
  for (let k = 0; k < 3; k++) {
    const t0 = performance.now()
    for (let i = 0; i < R; i++) yield* once
    console.log("direct", Math.round(R / ((performance.now() - t0) / 1000)), "runs/s", ((performance.now() - t0) * 1000 / R).toFixed(0), "us/run")
  }
}).pipe(Effect.provide(SqliteCheckpointer.layer({ filename, synchronous: "NORMAL" }))))
