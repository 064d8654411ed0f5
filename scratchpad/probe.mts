// Print a summary of the served OpenAPI document (scratch).
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Scope from "effect/Scope"
import * as Serve from "../src/serve/server.js"
const scope = Effect.runSync(Scope.make())
const s = await Effect.runPromise(Serve.start({ port: 0, db: "/tmp/probe.sqlite", graphs: ["examples/hello"], authToken: process.env["TOKEN"] }).pipe(Scope.extend(scope)))
const doc = await (await fetch(s.url + "/openapi.json", { headers: { authorization: `Bearer ${process.env["TOKEN"]}` } })).json() as any
for (const [p, ops] of Object.entries(doc.paths) as any) for (const [m, op] of Object.entries(ops) as any) console.log(m.toUpperCase().padEnd(5), p.padEnd(32), op.operationId, Object.keys(op.responses).join(","), (op.parameters ?? []).map((x: any) => x.in + ":" + x.name).join(" "), op.security ? "auth" : "")
console.log(JSON.stringify(doc.info), Object.keys(doc.components.schemas), JSON.stringify(doc.components.securitySchemes ?? null))
await Effect.runPromise(Scope.close(scope, Exit.void))
