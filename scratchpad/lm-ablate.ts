// Where a replayed dspy node's time goes right after a live HTTP call (cold position).
import * as Effect from "effect/Effect"
import * as ManagedRuntime from "effect/ManagedRuntime"
import * as MemoryCheckpointer from "../src/checkpoint/MemoryCheckpointer.js"
import * as Graph from "../src/graph/Graph.js"
import type { NodeInput } from "../src/nodes/Executor.js"
import { stepRecorder } from "../src/runtime/Cassette.js"
import { sha256 } from "../src/ir/hash.js"
import * as OpenAiServer from "../test/helpers/openaiServer.js"

const median = (xs: Array<number>) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!
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
let cassette: any
const timed = (eff: () => Effect.Effect<unknown, unknown>) => runtime.runPromise(Effect.suspend(() => {
  const t0 = performance.now()
  return Effect.map(eff(), () => (performance.now() - t0) * 1000)
}) as Effect.Effect<number, never>)
const live = () => timed(() => node.execute(state, input(stepRecorder(1, undefined).forNode("ask"))))
const rec = stepRecorder(1, undefined)
await runtime.runPromise(node.execute(state, input(rec.forNode("ask"))))
cassette = { calls: new Map([["1:ask", rec.entries()]]), responses: new Map(), overrides: new Map(), liveAfterFork: false }
const entry = rec.entries()[0]!
const text = JSON.stringify(entry.request)
const arms: Record<string, () => Promise<number>> = {
  replay: () => timed(() => node.execute(state, input(stepRecorder(1, cassette).forNode("ask")))),
  succeed: () => timed(() => Effect.succeed(1)),
  sha: () => timed(() => Effect.sync(() => sha256(text))),
  cassette_only: () => timed(() => stepRecorder(1, cassette).forNode("ask").callEffect("lm.dspy", entry.request, Effect.die("no"), undefined)),
  parse_only: () => timed(() => Effect.sync(() => JSON.parse((entry.response as any).text))),
}
const out: Record<string, Array<number>> = Object.fromEntries(Object.keys(arms).map((k) => [k, []]))
for (let i = 0; i < 50; i++) for (const k in arms) { await live(); await arms[k]!() }
for (let i = 0; i < 200; i++) for (const k in arms) { await live(); out[k]!.push(await arms[k]!()) }
console.log(Object.fromEntries(Object.entries(out).map(([k, v]) => [k, median(v).toFixed(1)])))
await runtime.dispose(); await server.close()
