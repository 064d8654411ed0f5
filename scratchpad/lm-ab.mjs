// A/B of a replayed dspy node between two builds, in one process, interleaved: for each
// build in turn, one live call then one replay (timed in the fiber, as bench/nodes/lm.ts).
//   node scratchpad/lm-ab.mjs /tmp/openaiServer.mjs <rootA> <rootB> [pairs]   (roots hold dist/src/)
import * as Effect from "effect/Effect"
import * as ManagedRuntime from "effect/ManagedRuntime"
const [serverModule, rootA, rootB, pairsArg] = process.argv.slice(2)
const pairs = Number(pairsArg ?? 1000)
const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return s[s.length >> 1] }
const OpenAiServer = await import(serverModule)
const server = await OpenAiServer.start({ latencyMs: 0, respond: () => "{\"answer\": \"Paris is the capital of France.\"}" })
const arm = async (root) => {
  const dist = `${root}/dist/src/`
  const MemoryCheckpointer = await import(`${dist}checkpoint/MemoryCheckpointer.js`)
  const Graph = await import(`${dist}graph/Graph.js`)
  const { stepRecorder } = await import(`${dist}runtime/Cassette.js`)
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
  const cassette = { calls: new Map([["1:ask", JSON.parse(JSON.stringify(rec.entries()))]]), responses: new Map(), overrides: new Map(), liveAfterFork: false, timeouts: new Map() }
  const once = async (replay) => {
    const recorder = stepRecorder(1, replay ? cassette : undefined)
    const { outcome, us } = await runtime.runPromise(Effect.suspend(() => {
      const t0 = performance.now()
      return Effect.map(node.execute(state, input(recorder.forNode("ask"))), (outcome) => ({ outcome, us: (performance.now() - t0) * 1000 }))
    }))
    if (outcome._tag !== "Update" || outcome.update.answer !== "Paris is the capital of France.") throw new Error("unexpected outcome")
    if (recorder.liveCalls() !== (replay ? 0 : 1)) throw new Error("live calls")
    return us
  }
  return { once, dispose: () => runtime.dispose() }
}
const A = await arm(rootA), B = await arm(rootB)
const out = { A: { live: [], replay: [] }, B: { live: [], replay: [] } }
for (let i = 0; i < pairs + 50; i++) {
  for (const [k, x] of i % 2 === 0 ? [["A", A], ["B", B]] : [["B", B], ["A", A]]) {
    const l = await x.once(false), r = await x.once(true)
    if (i >= 50) { out[k].live.push(l); out[k].replay.push(r) }
  }
}
const fig = (o) => ({ live_us: Math.round(median(o.live)), replay_us: Number(median(o.replay).toFixed(1)), ratio: Number((median(o.live) / median(o.replay)).toFixed(1)) })
console.log(JSON.stringify({ pairs, A: fig(out.A), B: fig(out.B) }))
await A.dispose(); await B.dispose(); await server.close()
