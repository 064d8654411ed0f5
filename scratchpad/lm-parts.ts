// Where a replayed dspy node's time goes after a live HTTP call: each part timed alone, each after its own live call.
//   npx tsx scratchpad/lm-parts.ts [rounds]
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as ManagedRuntime from "effect/ManagedRuntime"
import * as Schema from "effect/Schema"
import * as MemoryCheckpointer from "../src/checkpoint/MemoryCheckpointer.js"
import * as Graph from "../src/graph/Graph.js"
import type { NodeInput } from "../src/nodes/Executor.js"
import { completionDecoder } from "../src/nodes/lm/parseCompletion.js"
import { checkJson, plainJsonEqual } from "../src/ir/json.js"
import { stepRecorder } from "../src/runtime/Cassette.js"
import * as OpenAiServer from "../test/helpers/openaiServer.js"

const rounds = Number(process.argv[2] ?? 300)
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
const rec = stepRecorder(1, undefined)
await runtime.runPromise(node.execute(state, input(rec.forNode("ask"))))
const entries = JSON.parse(JSON.stringify(rec.entries()))
const cassette = { calls: new Map([["1:ask", entries]]), responses: new Map(), overrides: new Map(), liveAfterFork: false, timeouts: new Map() }
const entry = entries[0]
const request = JSON.parse(JSON.stringify(entry.request))
const decode = completionDecoder(Schema.Struct({ answer: Schema.String }))
const timed = (eff: () => Effect.Effect<unknown, unknown>) => runtime.runPromise(Effect.suspend(() => {
  const t0 = performance.now()
  return Effect.map(eff(), () => (performance.now() - t0) * 1000)
}) as Effect.Effect<number, never>)
const syncUs = async (f: () => unknown) => { const t0 = performance.now(); f(); return (performance.now() - t0) * 1000 }
const live = () => runtime.runPromise(node.execute(state, input(stepRecorder(1, undefined).forNode("ask"))))
const arms: Record<string, () => Promise<number>> = {
  replay: () => { const r = stepRecorder(1, cassette); return timed(() => node.execute(state, input(r.forNode("ask")))) },
  succeed: () => timed(() => Effect.succeed(1)),
  match: () => { const r = stepRecorder(1, cassette).forNode("ask"); return timed(() => r.callEffect("lm.dspy", request, Effect.die("no"), { canonical: () => undefined, recorded: () => {} })) },
  equal_sync: () => syncUs(() => plainJsonEqual(request, entry.request)),
  decode_sync: () => syncUs(() => decode(entry.response.text)),
  json_parse_sync: () => syncUs(() => JSON.parse(entry.response.text)),
  nothing_sync: () => syncUs(() => 0),
  match_sync: () => { const r = stepRecorder(1, cassette).forNode("ask"); return syncUs(() => Effect.runSync(r.callEffect("lm.dspy", request, Effect.die("no"), { canonical: () => undefined, recorded: () => {} }))) },
  runsync_succeed: () => syncUs(() => Effect.runSync(Effect.suspend(() => Effect.succeed(1)))),
  checkjson_sync: () => syncUs(() => checkJson(entry.response, "response")),
  recorder_sync: () => syncUs(() => stepRecorder(1, cassette).forNode("ask"))
}
const out: Record<string, Array<number>> = Object.fromEntries(Object.keys(arms).map((k) => [k, []]))
for (let i = 0; i < 30; i++) for (const k in arms) { await live(); await arms[k]!() }
for (let i = 0; i < rounds; i++) for (const k in arms) { await live(); out[k]!.push(await arms[k]!()) }
console.log(JSON.stringify(Object.fromEntries(Object.entries(out).map(([k, v]) => [k, Number(median(v).toFixed(2))]))))
await runtime.dispose(); await server.close()
