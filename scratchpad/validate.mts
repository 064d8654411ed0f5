import * as Effect from "effect/Effect"
import * as Graph from "../src/graph/Graph.js"
const g = await Effect.runPromise(Effect.either(Graph.load(process.argv[2]!)))
console.log(g._tag === "Right" ? `ok ${g.right.id} ${g.right.graphHash}` : JSON.stringify(g.left))
