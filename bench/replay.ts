/**
 * Replay benchmark: record a 1,000-step run whose node makes one tool call per step
 * (a simulated tool with `--tool-ms` latency, default 2 ms, standing in for an LLM or
 * inference call), then fork it from step 0 with no mutation: the fork re-executes every
 * step against the cassette. Prints steps/s of the live run and of the replay, and the
 * speed-up, for SQLite FULL and NORMAL.
 *
 *   npx tsx bench/replay.ts [--steps 1000] [--tool-ms 2]
 */
import { mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as Effect from "effect/Effect"
import * as SqliteCheckpointer from "../src/checkpoint/SqliteCheckpointer.js"
import * as Graph from "../src/graph/Graph.js"
import type { NodeFunction } from "../src/nodes/Executor.js"
import * as Replay from "../src/replay/Replay.js"

const args = new Map<string, string>()
for (let i = 2; i < process.argv.length; i += 2) args.set(process.argv[i]!.replace(/^--/, ""), process.argv[i + 1] ?? "")
const STEPS = Number(args.get("steps") ?? 1000)
const TOOL_MS = Number(args.get("tool-ms") ?? 2)

let liveCalls = 0
const work: NodeFunction = async (state, ctx) => {
  const result = await ctx.call("tool.lookup", { i: state["i"] }, async () => {
    liveCalls++
    await new Promise((r) => setTimeout(r, TOOL_MS))
    return { value: (state["i"] as number) * 2 }
  })
  return { i: (state["i"] as number) + 1, total: (state["total"] as number) + (result as { value: number }).value }
}

const ir = {
  ir_version: "1.0.0",
  id: "bench:long",
  max_steps: STEPS + 10,
  state_schema: { fields: { i: { type: "integer", default: 0 }, total: { type: "integer", default: 0 } } },
  nodes: [{ id: "work", kind: "function", module: "b", export: "work" }],
  edges: [{ from: "work", cases: [{ when: { field: "i", op: "lt", value: STEPS }, to: "work" }] }]
}

for (const synchronous of ["FULL", "NORMAL"] as const) {
  const layer = SqliteCheckpointer.layer({ filename: join(mkdtempSync(join(tmpdir(), "sg-replay-")), "db.sqlite"), synchronous })
  const result = await Effect.runPromise(Effect.gen(function*() {
    const graph = yield* Graph.make(ir, { modules: { b: { work } } })
    const t0 = performance.now()
    const live = yield* Effect.flatMap(graph.start({}), (r) => r.start())
    const liveS = (performance.now() - t0) / 1000
    const callsBefore = liveCalls
    const t1 = performance.now()
    const replay = yield* Replay.fork(graph, live.run_id, {})
    const replayS = (performance.now() - t1) / 1000
    if (replay.summary.status !== "done" || Object.keys(replay.diff.state_deltas).length > 0 || liveCalls !== callsBefore) {
      throw new Error("replay was not bit-identical")
    }
    return {
      bench: "replay",
      synchronous,
      steps: live.steps,
      tool_ms: TOOL_MS,
      live_steps_per_s: Math.round(live.steps / liveS),
      replay_steps_per_s: Math.round(replay.summary.steps / replayS),
      speedup: +(liveS / replayS).toFixed(2),
      live_calls_during_replay: liveCalls - callsBefore
    }
  }).pipe(Effect.provide(layer)))
  console.log(JSON.stringify(result))
}
