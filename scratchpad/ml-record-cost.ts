// What recording an ml call costs, piece by piece (warm, back to back).
import * as Effect from "effect/Effect"
import { stepRecorder } from "../src/runtime/Cassette.js"
import { sha256 } from "../src/ir/hash.js"
import { checkJson } from "../src/ir/json.js"

const x = [1, 2, 0.5, 1]
const req = { version: "1", sha256: "a".repeat(64), input: x }
const resp = { score: 0.679 }
const tail = `,"sha256":"${"a".repeat(64)}","version":"1"}`
const N = 200_000
const time = (label: string, eff: (i: number) => Effect.Effect<unknown, unknown>) =>
  Effect.runPromise(Effect.gen(function*() {
    const t0 = performance.now()
    for (let i = 0; i < N; i++) yield* eff(i)
    console.log(label, (((performance.now() - t0) / N) * 1000).toFixed(3), "µs")
  }))
for (let r = 0; r < 2; r++) {
  await time("succeed", () => Effect.succeed(resp))
  await time("suspend+flatMap+succeed", () => Effect.suspend(() => Effect.flatMap(Effect.succeed(resp), (v) => Effect.succeed(v))))
  await time("canonical+sha", () => Effect.sync(() => sha256(`{"name":"ml.m","request":${`{"input":${JSON.stringify(x)}${tail}`}}`)))
  await time("checkJson", () => Effect.sync(() => checkJson(resp, "response")))
  const recorders = Array.from({ length: N }, () => stepRecorder(1, undefined).forNode("m"))
  await time("callEffect recorded", (i) => recorders[i]!.callEffect("ml.m", req, Effect.succeed(resp), () => `{"input":${JSON.stringify(x)}${tail}`))
}
