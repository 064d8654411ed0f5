// Start the server in-process with variant options, for profiling (not used by src/).
//   npx tsx scratchpad/serve-variant.mts <port> <db> <graphs> [noexec]
import * as Effect from "effect/Effect"
import * as Serve from "../src/serve/server.js"
const [port, db, graphs, mode] = process.argv.slice(2)
const program = Effect.scoped(Effect.gen(function*() {
  const s = yield* Serve.start({
    port: Number(port), db: db!, graphs: [graphs!], synchronous: "NORMAL", auditLog: process.env["AUDIT"],
    ...(mode === "noexec" ? { scheduler: { perGraphOverrides: { "bench:noop": 0 } } } : {})
  })
  console.log(`stargraph serve listening on ${s.url}`)
  yield* Effect.never
}))
Effect.runFork(program)
process.on("SIGINT", () => process.exit(0))
