// The cost of small pieces of work right after the process slept (a stand-in for a replay after a live call).
import * as Effect from "effect/Effect"
import * as ManagedRuntime from "effect/ManagedRuntime"
import { createHash } from "node:crypto"
import * as MemoryCheckpointer from "../dist/src/checkpoint/MemoryCheckpointer.js"
const runtime = ManagedRuntime.make(MemoryCheckpointer.layer)
await runtime.runPromise(Effect.void)
const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return Math.round(10 * s[s.length >> 1]) / 10 }
const coldMs = Number(process.argv[2] ?? 2)
const cases = {
  nothing: async () => {},
  now: async () => performance.now(),
  runPromise: () => runtime.runPromise(Effect.succeed(1)),
  effectRunSync: async () => Effect.runSync(Effect.succeed(1)),
  sha256: async () => createHash("sha256").update("x".repeat(400)).digest("hex"),
  jsonParse: async () => JSON.parse("{\"answer\": \"Paris is the capital of France.\"}"),
}
for (let round = 0; round < 2; round++) {
  const out = {}
  for (const [k, f] of Object.entries(cases)) {
    const xs = []
    for (let i = 0; i < 300; i++) { if (coldMs > 0) await new Promise((r) => setTimeout(r, coldMs)); const t = performance.now(); await f(); xs.push((performance.now() - t) * 1000) }
    out[k] = median(xs)
  }
  console.log(JSON.stringify(out))
}
await runtime.dispose()
