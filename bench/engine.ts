/**
 * Engine benchmark: a linear graph of N `function` nodes (each increments `counter` and
 * appends its id to `log`), R sequential runs, with the SQLite Checkpointer
 * (synchronous=FULL and NORMAL, a durable checkpoint after every step) and with the
 * in-memory Checkpointer. Prints one JSON line per mode.
 *
 *   npx tsx bench/engine.ts [--nodes 10] [--runs 200] [--mode full|normal|memory|all|inmemory]
 *        [--routing edges|rules|order|facts]
 * (`inmemory`: the SQLite Checkpointer on an in-memory database, to separate the cost of
 * the SQL path from the disk's; not part of `all`)
 *
 * `--routing` says how the same linear graph is routed: `edges` (default: `edges:`
 * compiled to rules), `rules` (the original's form: a `goto` rule per node on its
 * `node-id` fact), `order` (the original's form with no rules: declaration order), or
 * `facts` (a `goto` rule per node that also matches the mirrored `counter` fact, so the
 * rule engine evaluates every step).
 */
import { mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as Effect from "effect/Effect"
import type * as Layer from "effect/Layer"
import type { Checkpointer } from "../src/checkpoint/Checkpointer.js"
import * as MemoryCheckpointer from "../src/checkpoint/MemoryCheckpointer.js"
import * as SqliteCheckpointer from "../src/checkpoint/SqliteCheckpointer.js"
import * as Graph from "../src/graph/Graph.js"
import type { State } from "../src/ir/stateSchema.js"

const args = new Map<string, string>()
for (let i = 2; i < process.argv.length; i += 2) args.set(process.argv[i]!.replace(/^--/, ""), process.argv[i + 1] ?? "")
const N = Number(args.get("nodes") ?? 10)
const R = Number(args.get("runs") ?? 200)
const mode = args.get("mode") ?? "all"
const routing = args.get("routing") ?? "edges"
if (!["edges", "rules", "order", "facts"].includes(routing)) throw new Error(`--routing ${routing}: use edges, rules, order or facts`)

const ids = Array.from({ length: N }, (_, i) => `n${i}`)
const routes = routing === "edges"
  ? { edges: ids.slice(1).map((to, i) => ({ from: ids[i]!, to })) }
  : routing === "order"
  ? {}
  : {
    rules: ids.slice(1).map((to, i) => ({
      id: `r-${ids[i]}`,
      when: routing === "rules" ? { node: ids[i] } : `(node-id (id ${ids[i]})) (counter (value ?v&:(>= ?v 0)))`,
      then: [{ kind: "goto", target: to }]
    }))
  }

const ir = {
  ir_version: "1.0.0",
  id: "bench:linear",
  state_schema: {
    fields: {
      counter: { type: "integer", default: 0 },
      log: { type: "array", items: { type: "string" }, default: [], reducer: "append" }
    }
  },
  nodes: ids.map((id) => ({ id, kind: "function", module: "bench", export: "step" })),
  ...routes
}

const step = (state: State, ctx: { readonly nodeId: string }) => ({ counter: (state["counter"] as number) + 1, log: [ctx.nodeId] })

const measure = (label: string, layer: Layer.Layer<Checkpointer, unknown>) =>
  Effect.gen(function*() {
    const graph = yield* Graph.make(ir, { modules: { bench: { step } } })
    const once = Effect.flatMap(graph.start({ inputs: { counter: 0 } }), (run) => run.start())
    const warm = yield* once
    if (warm.final_state["counter"] !== N) throw new Error(`wrong result ${JSON.stringify(warm.final_state)}`)
    const latencies: Array<number> = []
    const t0 = performance.now()
    for (let i = 0; i < R; i++) {
      const s = performance.now()
      const summary = yield* once
      latencies.push(performance.now() - s)
      if (summary.status !== "done" || summary.final_state["counter"] !== N) throw new Error("wrong result")
    }
    const wall = (performance.now() - t0) / 1000
    latencies.sort((a, b) => a - b)
    const q = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor(p * latencies.length))]!
    return {
      bench: "engine",
      checkpoint: label,
      routing,
      nodes: N,
      runs: R,
      wall_s: +wall.toFixed(3),
      steps_per_s: Math.round((N * R) / wall),
      runs_per_s: +(R / wall).toFixed(1),
      p50_run_ms: +q(0.5).toFixed(2),
      p99_run_ms: +q(0.99).toFixed(2),
      peak_rss_mb: Math.round(process.resourceUsage().maxRSS / 1024),
      node: process.version
    }
  }).pipe(Effect.provide(layer))

const dir = mkdtempSync(join(tmpdir(), "stargraph-bench-"))
const modes: Array<[string, () => Layer.Layer<Checkpointer, unknown>]> = [
  ["sqlite-full", () => SqliteCheckpointer.layer({ filename: join(dir, "full.sqlite"), synchronous: "FULL" })],
  ["sqlite-normal", () => SqliteCheckpointer.layer({ filename: join(dir, "normal.sqlite"), synchronous: "NORMAL" })],
  ["memory", () => MemoryCheckpointer.layer],
  // Diagnostic, not a durable mode: the same SQL path against an in-memory SQLite database.
  ["sqlite-inmemory", () => SqliteCheckpointer.layer({ filename: ":memory:" })]
]
const selected = modes.filter(([name]) => (mode === "all" && name !== "sqlite-inmemory") || name === `sqlite-${mode}` || name === mode)
for (const [name, layer] of selected) {
  console.log(JSON.stringify(await Effect.runPromise(measure(name, layer()))))
}
