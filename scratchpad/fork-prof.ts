// CPU profile target: forks (plain replays) of a recorded 10-node dspy chain, in memory.
import * as Effect from "effect/Effect"
import * as ManagedRuntime from "effect/ManagedRuntime"
import * as MemoryCheckpointer from "../src/checkpoint/MemoryCheckpointer.js"
import * as Graph from "../src/graph/Graph.js"
import * as Replay from "../src/replay/Replay.js"
import * as OpenAiServer from "../test/helpers/openaiServer.js"
const server = await OpenAiServer.start({ latencyMs: 0, respond: () => "{\"answer\": \"Paris.\"}" })
const runtime = ManagedRuntime.make(MemoryCheckpointer.layer)
const graph = await Effect.runPromise(Graph.make({
  ir_version: "1.0.0", id: "bench:lm-chain",
  state_schema: { fields: { question: { type: "string" }, answer: { type: "string" } } },
  nodes: Array.from({ length: 10 }, (_, i) => ({ id: `ask${i}`, kind: "dspy", config: { signature: "question -> answer", model: "m", api_base: server.url } }))
}))
const parent = (await runtime.runPromise(Effect.flatMap(graph.start({ inputs: { question: "Capital of France?" } }), (r) => r.start()))).run_id
for (let i = 0; i < 200; i++) await runtime.runPromise(Replay.fork(graph, parent))
const t0 = performance.now()
const N = 2000
for (let i = 0; i < N; i++) await runtime.runPromise(Replay.fork(graph, parent))
console.log("fork µs", ((performance.now() - t0) / N * 1000).toFixed(0))
await runtime.dispose(); await server.close()
