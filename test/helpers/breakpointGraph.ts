/** The three-node graph `a → b → c` the breakpoint tests pause in (each node adds 1 to `n` and logs its id). */
import { mkdirSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import { tempDir } from "./cli.js"
import { boot } from "./server.js"

/** Write `graph.yaml` (id `run:bp`) and its `nodes.js` into `dir`. */
export const writeBreakpointGraph = (dir: string): void => {
  writeFileSync(join(dir, "nodes.js"), "export const step = (s, ctx) => ({ n: 1, log: [ctx.nodeId] })\n")
  writeFileSync(join(dir, "graph.yaml"), [
    "ir_version: \"1.0.0\"", "id: run:bp",
    "state_schema: { fields: { n: { type: integer, default: 0, reducer: add }, log: { type: array, items: { type: string }, default: [], reducer: append } } }",
    "nodes:",
    "  - { id: a, kind: function, module: ./nodes.js, export: step }",
    "  - { id: b, kind: function, module: ./nodes.js, export: step }",
    "  - { id: c, kind: function, module: ./nodes.js, export: step }",
    "edges: [{ from: a, to: b }, { from: b, to: c }]", ""
  ].join("\n"))
}

/** A server (temp database, 50 ms poll) with `run:bp` registered, as the HTTP breakpoint tests boot it. */
export const bootBreakpointServer = () => {
  const dir = tempDir()
  const graphs = join(dir, "graphs")
  mkdirSync(graphs)
  writeBreakpointGraph(graphs)
  return boot({ db: join(dir, "serve.sqlite"), graphs: [graphs], scheduler: { pollIntervalMs: 50 } })
}
