// Live call, then replay, many pairs, against the compiled build (npm run build); for --cpu-prof of the
// replay after a live call (the samples under `replayOnce`):
//   npx esbuild test/helpers/openaiServer.ts --format=esm --platform=node --outfile=/tmp/openaiServer.mjs
//   node --cpu-prof scratchpad/lm-prof-mix.mjs /tmp/openaiServer.mjs [pairs] [distDir or file://…/src/ with --import tsx]
import * as Effect from "effect/Effect"
import * as ManagedRuntime from "effect/ManagedRuntime"
const [serverModule, pairsArg, distArg] = process.argv.slice(2)
const dist = distArg ?? new URL("../dist/src/", import.meta.url).href
const OpenAiServer = await import(serverModule)
const MemoryCheckpointer = await import(`${dist}checkpoint/MemoryCheckpointer.js`)
const Graph = await import(`${dist}graph/Graph.js`)
const { stepRecorder } = await import(`${dist}runtime/Cassette.js`)
const pairs = Number(pairsArg ?? 2000)
const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return Math.round(s[s.length >> 1]) }
const server = await OpenAiServer.start({ latencyMs: 0, respond: () => "{\"answer\": \"Paris is the capital of France.\"}" })
const runtime = ManagedRuntime.make(MemoryCheckpointer.layer)
const graph = await Effect.runPromise(Graph.make({
  ir_version: "1.0.0", id: "bench:lm",
  state_schema: { fields: { question: { type: "string" }, answer: { type: "string" } } },
  nodes: [{ id: "ask", kind: "dspy", config: { signature: "question -> answer", model: "bench-model", api_base: server.url } }]
}))
const node = graph.nodes.get("ask")
const state = { question: "What is the capital of France?" }
const input = (calls) => ({ runId: "bench", nodeId: "ask", step: 1, calls, answers: [], graphHash: graph.graphHash })
const rec = stepRecorder(1, undefined)
await runtime.runPromise(node.execute(state, input(rec.forNode("ask"))))
const cassette = { calls: new Map([["1:ask", rec.entries()]]), responses: new Map(), overrides: new Map(), liveAfterFork: false }
const live = async () => { const r = stepRecorder(1, undefined); await runtime.runPromise(node.execute(state, input(r.forNode("ask")))) }
async function replayOnce() {
  const r = stepRecorder(1, cassette)
  const t = performance.now()
  const o = await runtime.runPromise(node.execute(state, input(r.forNode("ask"))))
  const us = (performance.now() - t) * 1000
  if (o._tag !== "Update" || r.liveCalls() !== 0) throw new Error("bad")
  return us
}
const xs = []
for (let i = 0; i < pairs; i++) { await live(); xs.push(await replayOnce()) }
console.log(JSON.stringify({ pairs, replay_us: median(xs.slice(20)) }))
await runtime.dispose(); await server.close()
