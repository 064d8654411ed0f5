/**
 * Subgraph overhead: the same K `function` nodes run inlined in one graph, or as a child
 * graph behind one `subgraph` node (a child run created, checkpointed step by step and
 * linked to the parent step). Interleaved pairs, per Checkpointer: in memory, SQLite
 * `synchronous=NORMAL` and `FULL`. Goal: subgraph / inlined ≤ 1.5x.
 *
 *   npx tsx bench/nodes/subgraph.ts [--nodes 10] [--runs 200] [--warmup 200] [--block 1] [--build]
 *
 * `--block` runs of each graph take turns (default 1: strict alternation, where each run
 * finds the other graph's code and data in the caches).
 * `--warmup` pairs run first, not counted (JIT warm-up). `--build` runs the compiled
 * library (`dist/`, what an installed package runs; `npm run build` first) instead of the
 * sources through tsx, whose per-call wrappers weigh on a run of a few µs-long nodes.
 */
import { mkdtempSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { fileURLToPath } from "node:url"
import * as Effect from "effect/Effect"
import type * as Layer from "effect/Layer"
import type { Checkpointer } from "../../src/checkpoint/Checkpointer.js"
import type * as MemoryCheckpointerModule from "../../src/checkpoint/MemoryCheckpointer.js"
import type * as SqliteCheckpointerModule from "../../src/checkpoint/SqliteCheckpointer.js"
import type * as GraphModule from "../../src/graph/Graph.js"

/** The library's modules: the sources, or the compiled build (`--build`). */
const library = async (build: boolean) => {
  const root = build ? "../../dist/src/" : "../../src/"
  return {
    MemoryCheckpointer: (await import(`${root}checkpoint/MemoryCheckpointer.js`)) as typeof MemoryCheckpointerModule,
    SqliteCheckpointer: (await import(`${root}checkpoint/SqliteCheckpointer.js`)) as typeof SqliteCheckpointerModule,
    Graph: (await import(`${root}graph/Graph.js`)) as typeof GraphModule
  }
}

const median = (xs: ReadonlyArray<number>): number => {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.floor(s.length / 2)]!
}

/** Write the inlined graph, the parent and the child (K nodes each) into a temp folder. */
const graphs = (k: number) => {
  const dir = mkdtempSync(join(tmpdir(), "sg-bench-"))
  writeFileSync(join(dir, "step.mjs"), "export const step = (state, ctx) => ({ counter: state.counter + 1, log: [ctx.nodeId] })\n")
  const schema = "state_schema:\n  fields:\n    counter: { type: integer, default: 0 }\n    log: { type: array, items: { type: string }, default: [], reducer: append }\n"
  const nodes = Array.from({ length: k }, (_, i) => `  - { id: n${i}, kind: function, module: ./step.mjs, export: step }`).join("\n")
  writeFileSync(join(dir, "inlined.yaml"), `ir_version: "1.0.0"\nid: bench:inlined\n${schema}nodes:\n${nodes}\n`)
  writeFileSync(join(dir, "child.yaml"), `ir_version: "1.0.0"\nid: bench:child\n${schema}nodes:\n${nodes}\n`)
  writeFileSync(join(dir, "parent.yaml"), `ir_version: "1.0.0"\nid: bench:parent\n${schema}nodes:\n  - { id: sub, kind: subgraph, spec: ./child.yaml }\n`)
  return dir
}

const pairs = (Graph: typeof GraphModule, label: string, layer: Layer.Layer<Checkpointer, unknown>, dir: string, k: number, runs: number, warmup: number, block: number) =>
  Effect.gen(function*() {
    const inlined = yield* Graph.load(join(dir, "inlined.yaml"))
    const parent = yield* Graph.load(join(dir, "parent.yaml"))
    const once = (g: GraphModule.Graph) =>
      Effect.gen(function*() {
        const t = performance.now()
        const s = yield* Effect.flatMap(g.start({ inputs: { counter: 0 } }), (r) => r.start())
        if (s.status !== "done" || s.final_state["counter"] !== k) throw new Error(`wrong result ${JSON.stringify(s)}`)
        return (performance.now() - t) * 1000
      })
    for (let i = 0; i < warmup; i++) {
      yield* once(inlined)
      yield* once(parent)
    }
    const a: Array<number> = []
    const b: Array<number> = []
    for (let i = 0; i < runs; i += block) {
      const n = Math.min(block, runs - i)
      for (let j = 0; j < n; j++) a.push(yield* once(inlined))
      for (let j = 0; j < n; j++) b.push(yield* once(parent))
    }
    const inl = median(a)
    const sub = median(b)
    return { checkpointer: label, nodes: k, runs, inlined_us_per_run: Math.round(inl), subgraph_us_per_run: Math.round(sub), ratio: Number((sub / inl).toFixed(2)) }
  }).pipe(Effect.provide(layer))

/** Run the subgraph benchmark; one entry per Checkpointer and size. */
export const run = async (
  options: { readonly nodes?: ReadonlyArray<number>; readonly runs?: number; readonly warmup?: number; readonly block?: number; readonly build?: boolean } = {}
): Promise<Record<string, unknown>> => {
  const { Graph, MemoryCheckpointer, SqliteCheckpointer } = await library(options.build === true)
  const results: Array<unknown> = []
  const warmup = options.warmup ?? 200
  const block = options.block ?? 1
  for (const k of options.nodes ?? [10, 3]) {
    const dir = graphs(k)
    const runs = options.runs ?? 200
    results.push(await Effect.runPromise(pairs(Graph, "memory", MemoryCheckpointer.layer, dir, k, runs, warmup, block)))
    results.push(await Effect.runPromise(pairs(Graph, "sqlite NORMAL", SqliteCheckpointer.layer({ filename: join(dir, `normal-${k}.sqlite`), synchronous: "NORMAL" }), dir, k, runs, warmup, block)))
    results.push(await Effect.runPromise(pairs(Graph, "sqlite FULL", SqliteCheckpointer.layer({ filename: join(dir, `full-${k}.sqlite`), synchronous: "FULL" }), dir, k, Math.min(runs, 100), Math.min(warmup, 50), block)))
  }
  return { subgraph: results, library: options.build === true ? "dist (compiled)" : "src (tsx)", warmup, block, goal: "subgraph / inlined <= 1.5" }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const argv = process.argv.slice(2).filter((a) => a !== "--build")
  const args = new Map<string, string>()
  for (let i = 0; i < argv.length; i += 2) args.set(argv[i]!.replace(/^--/, ""), argv[i + 1] ?? "")
  const nodes = args.has("nodes") ? [Number(args.get("nodes"))] : undefined
  console.log(JSON.stringify(await run({
    ...(nodes ? { nodes } : {}),
    ...(args.has("runs") ? { runs: Number(args.get("runs")) } : {}),
    ...(args.has("warmup") ? { warmup: Number(args.get("warmup")) } : {}),
    ...(args.has("block") ? { block: Number(args.get("block")) } : {}),
    build: process.argv.includes("--build")
  }), null, 1))
}
