// µs per RuleSession.route on the `facts` bench graph (a goto rule per node over the mirrored counter), built library.
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Graph from "../dist/src/graph/Graph.js"
import * as RuleSession from "../dist/src/fathom/RuleSession.js"
const N = 10
const ir = {
  ir_version: "1.0.0", id: "bench:facts",
  state_schema: { fields: { counter: { type: "integer", default: 0 } } },
  nodes: Array.from({ length: N }, (_, i) => ({ id: `n${i}`, kind: "noop" })),
  rules: Array.from({ length: N - 1 }, (_, i) => ({ id: `r${i}`, when: `(node-id (id n${i})) (counter (value ?v&:(>= ?v 0)))`, then: [{ kind: "goto", target: `n${i + 1}` }] }))
}
const graph = await Effect.runPromise(Graph.make(ir))
const session = Either.getOrThrow(RuleSession.open(graph.rules))
const at = new Date().toISOString()
const steps = Number(process.argv[2] ?? 200000)
const once = (k) => {
  const r = session.route({ runId: "run-0000", step: k, at, state: { counter: k }, nodes: [`n${k % (N - 1)}`] })
  if (Either.isLeft(r)) throw r.left
  return session.snapshot()
}
for (let k = 0; k < 20000; k++) once(k)
const t0 = performance.now()
for (let k = 0; k < steps; k++) once(k)
console.log("µs per route+snapshot", ((performance.now() - t0) / steps * 1000).toFixed(2))
