/**
 * Stargraph as a library inside your own Effect application: build a Graph from an IR
 * object (with in-code node functions), provide the SQLite Checkpointer Layer, run it,
 * and consume `run.stream()` while it executes.
 *
 *   npx tsx examples/library/main.ts [path/to/db.sqlite]
 */
import { Chunk, Console, Effect, Fiber, Stream } from "effect"
import { Graph, type NodeFunction, SqliteCheckpointer } from "stargraph"

const double: NodeFunction = (state) => ({ value: (state["value"] as number) * 2, trail: ["double"] })
const describeValue: NodeFunction = (state) => ({ verdict: `value is ${state["value"]}`, trail: ["describe"] })

const ir = {
  ir_version: "1.0.0",
  id: "run:library-demo",
  state_schema: {
    fields: {
      value: { type: "integer", required: true },
      trail: { type: "array", items: { type: "string" }, default: [], reducer: "append" },
      verdict: { type: "string" }
    }
  },
  nodes: [
    { id: "double", kind: "function", module: "app", export: "double" },
    { id: "again", kind: "function", module: "app", export: "double" },
    { id: "describe", kind: "function", module: "app", export: "describeValue" }
  ],
  edges: [
    { from: "double", cases: [{ when: { field: "value", op: "lt", value: 100 }, to: "again" }], default: "describe" },
    { from: "again", to: "describe" }
  ]
}

/** The whole program: its only requirement is a Checkpointer. */
export const program = Effect.gen(function*() {
  const graph = yield* Graph.make(ir, { modules: { app: { double, describeValue } } })
  const run = yield* graph.start({ inputs: { value: 21 } })
  const events = yield* Effect.fork(
    run.stream().pipe(
      Stream.tap((event) => Console.log(`event ${event.seq} ${event.type}`)),
      Stream.runCollect
    )
  )
  const summary = yield* run.start()
  const seen = yield* Fiber.join(events)
  yield* Console.log(`run_id=${summary.run_id} status=${summary.status} verdict=${summary.final_state["verdict"]}`)
  return { summary, eventTypes: Chunk.toArray(seen).map((e) => e.type) }
})

const filename = process.argv[2] ?? ".stargraph/library.sqlite"
if (import.meta.url === `file://${process.argv[1]}`) {
  Effect.runPromise(program.pipe(Effect.provide(SqliteCheckpointer.layer({ filename })))).catch((error) => {
    console.error(error)
    process.exitCode = 1
  })
}
