// The recorder's own cost for an ml-shaped call, without inference: callEffect with a constant live Effect (built library).
import * as Effect from "effect/Effect"
import { stepRecorder } from "../dist/src/runtime/Cassette.js"
import { liveCalls } from "../dist/src/nodes/calls.js"
const value = [1, 2, 0.5, 1]
const head = `{"input":`, tail = `,"sha256":"${"a".repeat(64)}","version":"1"}`
const live = Effect.succeed({ score: [0.25] })
const med = (a) => a.sort((p, q) => p - q)[a.length >> 1]
const once = (calls) => calls.callEffect("ml.bench", { version: "1", sha256: "a".repeat(64), input: value }, live, { canonical: () => `${head}${JSON.stringify(value)}${tail}`, jsonResponse: true })
await Effect.runPromise(Effect.gen(function*() {
  for (let k = 0; k < 6; k++) {
    for (const mode of ["unrecorded", "recorded", "recorder-only"]) {
      const out = []
      for (let b = 0; b < 200; b++) {
        const t0 = performance.now()
        for (let i = 0; i < 100; i++) {
          const calls = mode === "unrecorded" ? liveCalls : stepRecorder(1, undefined).forNode("m")
          if (mode !== "recorder-only") yield* once(calls)
        }
        out.push((performance.now() - t0) * 10)
      }
      console.log(mode.padEnd(14), med(out).toFixed(2), "µs/call")
    }
  }
}))
