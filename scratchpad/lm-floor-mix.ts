/** After a live call: a replay, against a bare runPromise (the floor the bench cannot go under). npx tsx scratchpad/lm-floor-mix.ts */
import * as Effect from "effect/Effect"
import * as ManagedRuntime from "effect/ManagedRuntime"
import * as MemoryCheckpointer from "../src/checkpoint/MemoryCheckpointer.js"
import * as Graph from "../src/graph/Graph.js"
import type { NodeInput } from "../src/nodes/Executor.js"
import { stepRecorder } from "../src/runtime/Cassette.js"
import * as OpenAiServer from "../test/helpers/openaiServer.js"

const n = Number(process.argv[2] ?? 200)
const median = (xs: Array<number>) => { const s = [...xs].sort((a, b) => a - b); return Math.round(s[s.length >> 1]!) }
const server = await OpenAiServer.start({ latencyMs: 0, respond: () => "{\"answer\": \"Paris is the capital of France.\"}" })
const runtime = ManagedRuntime.make(MemoryCheckpointer.layer)
const graph = await Effect.runPromise(Graph.make({
  ir_version: "1.0.0", id: "bench:lm",
  state_schema: { fields: { question: { type: "string" }, answer: { type: "string" } } },
  nodes: [{ id: "ask", kind: "dspy", config: { signature: "question -> answer", model: "bench-model", api_base: server.url } }]
}))
const node = graph.nodes.get("ask")!
const state = { question: "What is the capital of France?" }
const input = (calls: NodeInput["calls"]): NodeInput => ({ runId: "bench", nodeId: "ask", step: 1, calls, answers: [], graphHash: graph.graphHash })
const rec = stepRecorder(1, undefined)
await runtime.runPromise(node.execute(state, input(rec.forNode("ask"))))
const cassette = { calls: new Map([["1:ask", rec.entries()]]), responses: new Map(), overrides: new Map(), liveAfterFork: false }
const live = async () => { const r = stepRecorder(1, undefined); await runtime.runPromise(node.execute(state, input(r.forNode("ask")))) }
const cases: Record<string, () => Promise<unknown>> = {
  replay: () => runtime.runPromise(node.execute(state, input(stepRecorder(1, cassette).forNode("ask")))),
  runPromise: () => runtime.runPromise(Effect.succeed({ _tag: "Update", update: { answer: "x" } })),
  runPromiseSuspend: () => runtime.runPromise(Effect.suspend(() => Effect.succeed({ _tag: "Update", update: { answer: "x" } }))),
  nothing: async () => {}
}
for (let i = 0; i < 20; i++) { await live(); for (const f of Object.values(cases)) await f() }
for (let round = 0; round < 2; round++) {
  const out: Record<string, number> = {}
  for (const [k, f] of Object.entries(cases)) {
    const xs: Array<number> = []
    for (let i = 0; i < n; i++) { await live(); const t = performance.now(); await f(); xs.push((performance.now() - t) * 1000) }
    out[k] = median(xs)
  }
  console.log(JSON.stringify(out))
}
await runtime.dispose(); await server.close()
