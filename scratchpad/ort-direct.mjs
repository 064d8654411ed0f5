// Compare the public InferenceSession.run with the native binding's synchronous run.
import { readFileSync } from "node:fs"
import { createRequire } from "node:module"
const require = createRequire(import.meta.url)
const ort = require("onnxruntime-node")
const { binding, initOrt } = require("onnxruntime-node/dist/binding.js")
const bytes = readFileSync("test/fixtures/models/linear.onnx")
const s = await ort.InferenceSession.create(bytes, { executionProviders: ["cpu"], graphOptimizationLevel: "all" })
initOrt()
const nat = new binding.InferenceSession()
nat.loadModel(bytes.buffer, bytes.byteOffset, bytes.byteLength, { executionProviders: ["cpu"], graphOptimizationLevel: "all" })
console.log(nat.inputMetadata, nat.outputMetadata)
const x = [1, 2, 0.5, 1]
const N = 20000
const med = (a) => a.sort((p, q) => p - q)[a.length >> 1]
for (let round = 0; round < 5; round++) {
  const A = [], B = [], C = []
  for (let i = 0; i < N; i++) {
    const t0 = performance.now()
    const r = await s.run({ features: new ort.Tensor("float32", Float32Array.from(x), [1, 4]) }, ["score"])
    A.push((performance.now() - t0) * 1000)
  }
  for (let i = 0; i < N; i++) {
    const t0 = performance.now()
    const r = nat.run({ features: new ort.Tensor("float32", Float32Array.from(x), [1, 4]) }, { score: null }, {})
    B.push((performance.now() - t0) * 1000)
    if (i === 0 && round === 0) console.log(r, r.score.constructor.name)
  }
  for (let i = 0; i < N; i++) {
    const t0 = performance.now()
    const r = await s.handler.run({ features: new ort.Tensor("float32", Float32Array.from(x), [1, 4]) }, { score: null }, {})
    C.push((performance.now() - t0) * 1000)
  }
  console.log({ public: med(A).toFixed(2), native_sync: med(B).toFixed(2), handler: med(C).toFixed(2) })
}
