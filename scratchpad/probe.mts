import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Scope from "effect/Scope"
import * as Serve from "../src/serve/server.js"
const scope = Effect.runSync(Scope.make())
const s = await Effect.runPromise(Serve.start({ port: 0, db: "/tmp/probe.sqlite", graphs: ["/work/main/examples/hello"] }).pipe(Scope.extend(scope)))
const show = async (path: string, init?: RequestInit) => { const r = await fetch(s.url + path, init); console.log(path, r.status, (await r.text()).slice(0, 400)) }
await show("/v1/runs", { method: "POST", body: JSON.stringify({ graph_id: "run:hello-stargraph", colour: "red" }), headers: { "content-type": "application/json" } })
await show("/v1/runs", { method: "POST", body: JSON.stringify({ graph_id: "run:hello-stargraph", params: {message: "x"} }), headers: { "content-type": "application/json" } })
await show("/v1/runs?limit=0")
await show("/healthz")
const doc = await (await fetch(s.url + "/openapi.json")).json() as any
console.log(JSON.stringify(doc.paths["/v1/runs"].post.responses["400"]), JSON.stringify(doc.paths["/v1/runs"].post.requestBody), Object.keys(doc.components.schemas))
await Effect.runPromise(Scope.close(scope, Exit.void))
