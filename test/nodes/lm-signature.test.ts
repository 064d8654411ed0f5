/** Signatures, prompts and completion parsing of the language-model nodes (pure functions). */
import * as Either from "effect/Either"
import * as Schema from "effect/Schema"
import { describe, expect, it } from "vitest"
import { decodeCompletion, jsonObject } from "../../src/nodes/lm/parseCompletion.js"
import { messages, repair, replyFields } from "../../src/nodes/lm/prompt.js"
import { pyFloat } from "../../src/nodes/lm/preset.js"
import * as Signature from "../../src/nodes/lm/Signature.js"

const parsed = (text: string) => Either.getOrThrowWith(Signature.parse(text), (e) => new Error(e))

describe("signatures", () => {
  it("parses untyped, typed and multi-line signatures", () => {
    expect(parsed("question, context -> answer")).toEqual({
      inputs: [{ name: "question", type: { _tag: "str" } }, { name: "context", type: { _tag: "str" } }],
      outputs: [{ name: "answer", type: { _tag: "str" } }]
    })
    const typed = parsed("question: str -> answer: str, confidence: float, n: int, ok: bool, tags: list[str], meta: dict, raw: list, x: Any")
    expect(typed.outputs.map((f) => Signature.typeText(f.type))).toEqual(["str", "float", "int", "bool", "list[str]", "dict", "list", "Any"])
    const folded = parsed("signature, severity_raw, asset_tier,\n  risk -> disposition, reason")
    expect(folded.inputs.map((f) => f.name)).toEqual(["signature", "severity_raw", "asset_tier", "risk"])
  })

  it("parses Literal and nested types, with commas and arrows inside brackets and quotes", () => {
    const s = parsed("text -> label: Literal['a, b', \"c->d\", 3, True], grid: list[list[int]], m: dict[str, int]")
    expect(s.outputs[0]!.type).toEqual({ _tag: "literal", values: ["a, b", "c->d", 3, true] })
    expect(Signature.typeText(s.outputs[1]!.type)).toBe("list[list[int]]")
    expect(s.outputs[2]!.type).toEqual({ _tag: "dict" })
    expect(Signature.format(s)).toBe("text -> label: Literal['a, b', 'c->d', 3, True], grid: list[list[int]], m: dict")
  })

  it.each([
    ["question answer", "needs '->'"],
    ["a -> b -> c", "has one '->'"],
    [" -> answer", "at least one input"],
    ["question -> ", "at least one output"],
    ["question, -> answer", "an empty input field"],
    ["1q -> answer", "is not a name"],
    ["q -> answer: complex", "unknown type 'complex'"],
    ["q -> a: Literal[]", "Literal needs at least one value"],
    ["q -> a: Literal[foo]", "Literal value foo is not"],
    ["q -> a: list[str, int]", "list takes one item type"],
    ["q -> q", "field 'q' appears twice"]
  ])("refuses %j (%s)", (text, message) => {
    const r = Signature.parse(text)
    expect(Either.isLeft(r) && r.left).toContain(message)
  })

  it("builds a signature from inputs/outputs mappings, refusing bad names and types with their location", () => {
    expect(Either.getOrThrow(Signature.fromMappings({ a: "str" }, { b: "list[int]" })).outputs[0]!.type).toEqual({ _tag: "list", item: { _tag: "int" } })
    expect(Signature.fromMappings({ "a b": "str" }, { b: "str" })).toEqual(Either.left({ side: "inputs", name: "a b", message: expect.stringContaining("not a field name") }))
    expect(Signature.fromMappings({ a: "str" }, { b: "money" })).toEqual(Either.left({ side: "outputs", name: "b", message: "'b': unknown type 'money'" }))
    expect(Signature.fromMappings({ a: "str" }, {})).toEqual(Either.left({ side: "outputs", name: undefined, message: "outputs is empty" }))
  })
})

describe("prompts", () => {
  const spec = { signature: parsed("question -> answer: str, confidence: float"), instructions: undefined, module: "cot" as const }

  it("asks for the reply keys in order (reasoning first for cot) and lists the inputs", () => {
    expect(replyFields(spec)).toEqual(["reasoning", "answer", "confidence"])
    expect(replyFields({ ...spec, module: "predict" })).toEqual(["answer", "confidence"])
    const [system, user] = messages(spec, { question: { a: 1 } })
    expect(system!.content).toBe([
      "Given the fields `question`, produce the fields `answer`, `confidence`.",
      "",
      "Your input fields are:",
      "- `question` (string)",
      "",
      "Reply with one JSON object and nothing else, with these keys in this order:",
      "- \"reasoning\": string (think it through step by step first)",
      "- \"answer\": string",
      "- \"confidence\": number"
    ].join("\n"))
    expect(user).toEqual({ role: "user", content: "## question\n{\n  \"a\": 1\n}" })
    expect(messages(spec, { question: "" })[1]!.content).toBe("## question\n(empty)")
  })

  it("a repair turn appends the bad reply and what was wrong", () => {
    const first = messages(spec, { question: "q" })
    const next = repair(first, "nope", "the completion is not a JSON object", spec)
    expect(next.slice(0, 2)).toEqual(first)
    expect(next.slice(2)).toEqual([
      { role: "assistant", content: "nope" },
      { role: "user", content: "That reply could not be used: the completion is not a JSON object. Reply again with only the JSON object, with the keys \"reasoning\", \"answer\", \"confidence\"." }
    ])
  })
})

describe("the string-outputs shortcut", () => {
  it("decodes every reply to what the outputs' Schema decodes it to, or leaves it to the Schema", () => {
    const fields = parsed("q -> answer, note").outputs
    const schema = Signature.outputSchema(fields)
    const shortcut = Signature.stringOutputs(fields)!
    expect(shortcut).toBeDefined()
    const objects: ReadonlyArray<Record<string, unknown>> = [
      { answer: "x", note: "y" },
      { note: "y", answer: "x", reasoning: "r", extra: 1 },
      { answer: "", note: "" },
      { answer: "x" },
      { answer: "x", note: null },
      { answer: 1, note: "y" },
      { answer: ["x"], note: "y" },
      JSON.parse("{\"answer\": \"x\", \"note\": \"y\", \"__proto__\": {\"z\": 1}}") as Record<string, unknown>,
      Object.assign(Object.create({ answer: "inherited" }) as Record<string, unknown>, { note: "y" })
    ]
    let taken = 0
    for (const object of objects) {
      const quick = shortcut(object)
      const viaSchema = Schema.decodeUnknownEither(schema)(object)
      if (quick === undefined) {
        // Left to the Schema: it refuses the object (what the shortcut cannot read is wrong).
        expect(Either.isLeft(viaSchema)).toBe(true)
      } else {
        taken++
        expect(Either.right(quick)).toEqual(viaSchema)
        expect(Object.keys(quick)).toEqual(["answer", "note"])
      }
    }
    expect(taken).toBe(5)
    // Through the decoder: the same reply, the same outputs, key order included.
    const reply = JSON.stringify({ note: "n", answer: "a", reasoning: "r" })
    expect(Object.keys(Either.getOrThrow(decodeCompletion(reply, schema)))).toEqual(["answer", "note"])
  })

  it("is only for outputs that are all plain strings", () => {
    expect(Signature.stringOutputs(parsed("q -> answer, n: int").outputs)).toBeUndefined()
    expect(Signature.stringOutputs(parsed("q -> label").outputs, { label: ["a", "b"] })).toBeUndefined()
    expect(Signature.stringOutputs(parsed("q -> __proto__").outputs)).toBeUndefined()
    expect(Signature.stringOutputs(parsed("q -> label").outputs, { other: ["a"] })).toBeDefined()
  })
})

describe("completions", () => {
  const schema = Signature.outputSchema(parsed("q -> answer, n: int, score: float, ok: bool, label: Literal['a', 'b']").outputs)
  const good = { answer: "x", n: 2, score: 0.5, ok: true, label: "a" }

  it("finds the JSON object bare, fenced, or inside a chatty reply", () => {
    const text = JSON.stringify(good)
    for (const completion of [text, `\`\`\`json\n${text}\n\`\`\``, `\`\`\`\n${text}\n\`\`\``, `Here you go: ${text} Hope it helps!`]) {
      expect(decodeCompletion(completion, schema)).toEqual(Either.right(good))
    }
  })

  it("reads numbers and booleans written as strings (pydantic's lax mode), nothing looser", () => {
    expect(decodeCompletion(JSON.stringify({ ...good, n: "2", score: "0.5", ok: "false" }), schema)).toEqual(Either.right({ ...good, ok: false }))
    expect(Either.getLeft(decodeCompletion(JSON.stringify({ ...good, n: 2.5 }), schema))._tag).toBe("Some")
    expect(Either.getLeft(decodeCompletion(JSON.stringify({ ...good, ok: "yes" }), schema))._tag).toBe("Some")
    expect(Either.getLeft(decodeCompletion(JSON.stringify({ ...good, score: "NaN" }), schema))._tag).toBe("Some")
  })

  it("names the field at fault", () => {
    expect(decodeCompletion(JSON.stringify({ ...good, label: "c" }), schema)).toEqual(Either.left({ field: "label", message: expect.stringContaining("'label'") }))
    const { answer: _a, ...rest } = good
    expect(decodeCompletion(JSON.stringify(rest), schema)).toEqual(Either.left({ field: "answer", message: "the reply has no 'answer'" }))
    expect(jsonObject("{not json}")).toEqual(Either.left({ message: "the completion is not a JSON object" }))
    expect(jsonObject("42")).toEqual(Either.left({ message: "the completion is JSON but not an object (number)" }))
  })

  it("writes scores as Python's str(float)", () => {
    expect([1, 0, 0.85, 0.5, 1e-5, 0.0001, 1 / 3].map(pyFloat)).toEqual(["1.0", "0.0", "0.85", "0.5", "1e-05", "0.0001", "0.3333333333333333"])
  })
})
