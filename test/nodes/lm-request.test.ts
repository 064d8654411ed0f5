/**
 * The requests a language-model node records: built from per-node parts with their
 * canonical JSON text alongside, they must be exactly what the generic path makes (the
 * same request, the same canonical text, the same hash), so recordings made before and
 * after replay alike.
 */
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import { describe, expect, it } from "vitest"
import * as MemoryCheckpointer from "../../src/checkpoint/MemoryCheckpointer.js"
import * as Graph from "../../src/graph/Graph.js"
import { canonicalPlainJson } from "../../src/ir/hash.js"
import { type LmNodeSpec, lmRequest, lmRequests } from "../../src/nodes/lm/lmExecutor.js"
import { type Module, repair } from "../../src/nodes/lm/prompt.js"
import type { ProviderConfig } from "../../src/nodes/lm/provider.js"
import * as Signature from "../../src/nodes/lm/Signature.js"
import { requestHash, stepRecorder } from "../../src/runtime/Cassette.js"

const provider = (over: Partial<ProviderConfig> = {}): ProviderConfig => ({
  model: "m",
  apiBase: undefined,
  apiKeyEnv: undefined,
  api: undefined,
  stream: false,
  temperature: undefined,
  maxTokens: undefined,
  ...over
})

const specOf = (signature: string, over: { instructions?: string; module?: Module; provider?: ProviderConfig } = {}): LmNodeSpec => {
  const parsed = Either.getOrThrowWith(Signature.parse(signature), (e) => new Error(e))
  return {
    kind: "dspy",
    prompt: { signature: parsed, instructions: over.instructions, module: over.module ?? "predict" },
    provider: over.provider ?? provider(),
    reads: parsed.inputs.map((f) => ({ input: f.name, field: f.name })),
    post: (outputs) => Either.right(outputs)
  }
}

const awkward = [
  "plain",
  "",
  "quotes \" and \\ backslashes",
  "control \u0000 \u0001 \u001f \t \n \r chars",
  "lone surrogates \ud800 and \udc00, a pair 😀",
  "unicode: é ß 中文 \u2028 \u2029",
  "</script> & <b>"
]

describe("prepared language-model requests", () => {
  const specs: ReadonlyArray<LmNodeSpec> = [
    specOf("question -> answer"),
    specOf("question, context -> answer: str, confidence: float, tags: list[str], label: Literal['a \"b\"', 3, True]", { module: "cot" }),
    specOf("text -> summary", { instructions: "Be \"brief\"\\n — and\tcareful 😀 \ud800", provider: provider({ model: undefined, temperature: 0.25, maxTokens: 512 }) }),
    specOf("a, b -> c", { provider: provider({ model: "openai/gpt-4o-mini", temperature: 0 }) })
  ]

  it("carry the canonical text canonicalPlainJson makes, for first attempts and repairs", () => {
    for (const spec of specs) {
      const requests = lmRequests(spec)
      for (const value of [...awkward, 42, null, true, { nested: ["x", 1.5, { "k\"": "\ud83d" }] }, ["a", "b"]]) {
        const inputs = Object.fromEntries(spec.reads.map((r) => [r.input, value]))
        const first = requests.first(inputs)
        const rounds = [first, repair(first, String(value), "a problem with \"quotes\" \ud800", spec.prompt)]
        for (const messages of rounds) {
          const request = requests.request(messages)
          const canonical = requests.canonical(messages)
          expect(request).toEqual(lmRequest(spec, messages))
          expect(JSON.stringify(request)).toBe(JSON.stringify(lmRequest(spec, messages)))
          expect(canonical).toBe(canonicalPlainJson(request))
        }
      }
    }
  })

  it("are recorded under the hash the generic path computes", () => {
    for (const spec of specs) {
      const requests = lmRequests(spec)
      for (const text of awkward) {
        const messages = requests.first(Object.fromEntries(spec.reads.map((r) => [r.input, text])))
        const request = requests.request(messages)
        const recorder = stepRecorder(1, undefined)
        Effect.runSync(recorder.forNode("n").callEffect("lm.dspy", request, Effect.succeed({ text: "{}" }), { canonical: () => requests.canonical(messages) }))
        const [entry] = recorder.entries()
        expect(entry!.request).toBe(request)
        expect(entry!.request_hash).toBe(requestHash("lm.dspy", request))
      }
    }
  })

  it("params that are not JSON go unprepared, so the recorder refuses them as before", () => {
    const spec = specOf("question -> answer", { provider: provider({ temperature: Number.NaN }) })
    const requests = lmRequests(spec)
    const messages = requests.first({ question: "q" })
    const request = requests.request(messages)
    expect(requests.canonical(messages)).toBeUndefined()
    const recorder = stepRecorder(1, undefined)
    const result = Effect.runSync(Effect.either(recorder.forNode("n").callEffect("lm.dspy", request, Effect.succeed({ text: "{}" }))))
    expect(Either.isLeft(result) && result.left._tag).toBe("NodeExecutionError")
  })

  it("a dspy node records the hash recordings made before the prepared requests have", async () => {
    // request_hash of this node's call as recorded by the generic path (before this change).
    const recorded = "sha256:3cd654a467b312b5b9d8316ef06ffb95ea740899d95642c4597ab68bb7894fa4"
    const graph = await Effect.runPromise(Graph.make({
      ir_version: "1.0.0",
      id: "bench:lm",
      state_schema: { fields: { question: { type: "string" }, answer: { type: "string" } } },
      nodes: [{ id: "ask", kind: "dspy", config: { signature: "question -> answer", model: "bench-model", api_base: "http://127.0.0.1:9/v1" } }]
    }))
    const node = graph.nodes.get("ask")!
    const entry = {
      node: "ask",
      seq: 0,
      name: "lm.dspy",
      request_hash: recorded,
      request: null,
      response: { text: "{\"answer\": \"Paris is the capital of France.\"}", finish_reason: "stop" }
    }
    const recorder = stepRecorder(1, { calls: new Map([["1:ask", [entry]]]), responses: new Map(), overrides: new Map(), liveAfterFork: false, timeouts: new Map() })
    const outcome = await Effect.runPromise(
      Effect.provide(
        node.execute({ question: "What is the capital of France?" }, { runId: "r", nodeId: "ask", step: 1, calls: recorder.forNode("ask"), answers: [], graphHash: graph.graphHash }),
        MemoryCheckpointer.layer
      )
    )
    expect(outcome).toEqual({ _tag: "Update", update: { answer: "Paris is the capital of France." } })
    expect(recorder.liveCalls()).toBe(0)
    expect(recorder.entries()[0]!.request_hash).toBe(recorded)
    expect(requestHash("lm.dspy", recorder.entries()[0]!.request)).toBe(recorded)
  })
})
