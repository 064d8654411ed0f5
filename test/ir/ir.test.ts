import { execFileSync } from "node:child_process"
import { writeFileSync } from "node:fs"
import { join } from "node:path"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import { describe, expect, it } from "vitest"
import * as YAML from "yaml"
import { IRValidationError, NodeModuleError } from "../../src/errors.js"
import * as Graph from "../../src/graph/Graph.js"
import { ROOT, tempDir } from "../helpers/cli.js"

const base = `
ir_version: "1.0.0"
id: run:t
state_schema:
  fields:
    n: { type: integer, default: 0, reducer: add }
nodes:
  - { id: a, kind: set, values: { n: 1 } }
  - { id: b, kind: set, values: { n: 1 } }
edges:
  - { from: a, to: b }
`

const irErrorOf = (text: string): IRValidationError => {
  const result = Effect.runSync(Effect.either(Graph.fromYaml(text, { file: "graph.yaml" })))
  if (Either.isRight(result)) throw new Error("expected an IR error")
  expect(result.left).toBeInstanceOf(IRValidationError)
  return result.left as IRValidationError
}

describe("IR validation", () => {
  it("accepts a valid graph, synchronously when no module is referenced", () => {
    const graph = Effect.runSync(Graph.fromYaml(base))
    expect(graph.id).toBe("run:t")
    expect(graph.graphHash).toMatch(/^sha256:[0-9a-f]{64}$/)
    expect(graph.runtimeHash).toMatch(/^sha256:[0-9a-f]{64}$/)
  })

  it("rejects malformed YAML with the line", () => {
    const e = irErrorOf("ir_version: \"1.0.0\"\nnodes: [a, b\nid: x\n")
    expect(e.message).toMatch(/malformed YAML/)
    expect(e.file).toBe("graph.yaml")
    expect(e.line).toBeGreaterThan(0)
  })

  it("rejects an unknown top-level field, naming it and the line", () => {
    const e = irErrorOf(base + "colour: blue\n")
    expect(e.path).toBe("colour")
    expect(e.fix).toMatch(/remove the unknown field 'colour'/)
    expect(e.line).toBe(12)
  })

  it("a misspelt field: the fix names the field it was meant as, at the key's own line; no count of the union's other forms failing", () => {
    const top = irErrorOf(base.replace("state_schema:", "state_shema:"))
    expect([top.path, top.line, top.fix]).toEqual(["state_shema", 4, "did you mean 'state_schema'? rename 'state_shema' to 'state_schema' (unknown fields are rejected)"])
    // `feilds:` reads as a field of the flat form: named as a misspelt `fields:`, not as its first entry.
    const fields = irErrorOf(base.replace("  fields:", "  feilds:"))
    expect([fields.path, fields.line, fields.fix]).toEqual(["state_schema.feilds", 5, "did you mean 'fields'? rename 'feilds' to 'fields'"])
    const option = irErrorOf(base.replace("default: 0,", "defualt: 0,"))
    expect([option.path, option.line]).toEqual(["state_schema.fields.n.defualt", 6])
    expect(option.fix).toBe("did you mean 'default'? rename 'defualt' to 'default' (unknown fields are rejected)")
    expect(option.message).not.toMatch(/more issue/)
    const node = irErrorOf(base.replace("{ id: b, kind: set, values: { n: 1 } }", "{ id: b, kind: set, valuess: { n: 1 } }"))
    expect([node.path, node.fix]).toEqual(["nodes[1].valuess", "did you mean 'values'? rename 'valuess' to 'values' (unknown fields are rejected)"])
    // Nothing close: remove it. Real issues elsewhere are still counted.
    const far = irErrorOf(base.replace("default: 0,", "colour: 0,") + "max_steps: many\n")
    expect([far.path, far.fix]).toEqual(["state_schema.fields.n.colour", "remove the unknown field 'colour' (unknown fields are rejected)"])
    expect(far.message).toMatch(/\(and 1 more issue elsewhere\)$/)
  })

  it("a reducer the field's type cannot take: the fix names the reducers that type takes", () => {
    const list = irErrorOf(base.replace("n: { type: integer, default: 0, reducer: add }", "n: { type: array, default: [], reducer: add }"))
    expect([list.path, list.message]).toEqual(["state_schema.fields.n.reducer", "reducer 'add' cannot combine values of type 'array'"])
    expect(list.fix).toBe("use reducer 'add' only with type integer or number; for type 'array' use 'append' or 'messages' or 'replace'")
    const text = irErrorOf(base.replace("n: { type: integer, default: 0, reducer: add }", "n: { type: string, reducer: merge }"))
    expect(text.fix).toBe("use reducer 'merge' only with type object; for type 'string' use 'replace'")
  })

  it("accepts the original's IR 1.1.0 (any 1.x.y) and refuses another major version with the fix", () => {
    expect(Effect.runSync(Graph.fromYaml(base.replace('"1.0.0"', '"1.1.0"'))).id).toBe("run:t")
    const e = irErrorOf(base.replace('"1.0.0"', '"2.0.0"'))
    expect([e.path, e.line]).toEqual(["ir_version", 2])
    expect(e.message).toMatch(/must be a 1\.x\.y version/)
    expect(e.fix).toBe('set ir_version: "1.1.0" (or any 1.x.y)')
  })

  it("names the original's forms this runtime does not read, with what to write instead", () => {
    // Its authoring format is lowered to IR (test/ir/authoring.test.ts), not refused.
    const authoring = irErrorOf("id: research-bot\nstate:\n  question: str\nnodes:\n  brief: {kind: template, template: \"{question}\"}\nroutes:\n  brief: {pass: done}\n")
    expect([authoring.path, authoring.message]).toEqual(["routes.brief", expect.stringContaining("authoring: route 'brief' branches on verdict values")])
    const tools = irErrorOf(base + "tools: [{id: std.calculator, version: \"1\"}]\n")
    expect([tools.path, tools.fix]).toEqual(["tools", expect.stringMatching(/^remove tools \(name each tool on its node/)])
    const lm = irErrorOf(base + "lm: {provider: sglang, model: phi}\n")
    expect([lm.path, lm.fix]).toEqual(["lm", expect.stringMatching(/point language-model nodes at a running server/)])
    const never = irErrorOf(base + "checkpoints: {every: never}\n")
    expect([never.path, never.fix]).toEqual(["checkpoints.every", "remove every, or set it to node-exit"])
    const broker = Effect.runSync(Effect.either(Graph.fromYaml(base.replace("{ id: b, kind: set, values: { n: 1 } }", "{ id: b, kind: broker }"))))
    // The original's broker kind is ported: without its config it is refused for that.
    expect(Either.isLeft(broker) && broker.left.message).toBe("a broker node needs config")
    // What the original writes when it has nothing to declare is accepted, and hashes as without it.
    const empty = Effect.runSync(Graph.fromYaml(base + "tools: []\nstores: []\nskills: null\n"))
    expect(empty.graphHash).toBe(Effect.runSync(Graph.fromYaml(base)).graphHash)
  })

  it("an empty node list is named as such", () => {
    const e = irErrorOf(base.replace(/nodes:\n( {2}- .*\n)+edges:\n {2}- .*\n/, "nodes: []\n"))
    expect([e.path, e.message]).toEqual(["nodes", "the graph has no nodes"])
    expect(e.fix).toMatch(/add at least one node/)
  })

  it("rejects an unknown node field", () => {
    const e = irErrorOf(base.replace("{ id: b, kind: set, values: { n: 1 } }", "{ id: b, kind: set, values: { n: 1 }, retries: 3 }"))
    expect(e.path).toBe("nodes[1].retries")
  })

  it("names a misspelt required key as the unknown field it is, at its line", () => {
    const e = irErrorOf(base.replace("{ id: b, kind: set", "{ id: b, kinds: set"))
    expect([e.path, e.line, e.message, e.fix]).toEqual(["nodes[1].kinds", 9, "unknown field 'kinds': did you mean 'kind'? (the required field 'kind' is missing)", "rename 'kinds' to 'kind'"])
    // No key close to the missing one: it is only missing.
    const missing = irErrorOf(base.replace("{ id: b, kind: set", "{ id: b, sort: set"))
    expect([missing.path, missing.message]).toEqual(["nodes[1].kind", "is missing"])
  })

  it("rejects an unknown node kind with the list of kinds", () => {
    const e = irErrorOf(base.replace("{ id: b, kind: set", "{ id: b, kind: magic"))
    expect(e.path).toBe("nodes[1].kind")
    expect(e.fix).toMatch(/set, function, interrupt, noop/)
  })

  it("names what an edge lacks against the form its keys choose: a router edge without targets, a conditional edge with a misspelt key", () => {
    const router = irErrorOf(base.replace("{ from: a, to: b }", "{ from: a, router: { module: ./n.ts, export: route } }"))
    expect([router.path, router.message, router.fix]).toEqual(["edges[0].targets", "is missing", "add the required field 'targets'"])
    const conditional = irErrorOf(base.replace("{ from: a, to: b }", "{ from: a, cases: [{ when: { field: n, op: gt, value: 1 }, to: b }], defualt: b }"))
    expect(conditional.path).toBe("edges[0].defualt")
    const plain = irErrorOf(base.replace("{ from: a, to: b }", "{ from: a, too: b }"))
    expect(plain.path).toMatch(/^edges\[0\]\.(to|too)$/)
  })

  it("rejects an edge to a missing node", () => {
    const e = irErrorOf(base.replace("{ from: a, to: b }", "{ from: a, to: c }"))
    expect(e.path).toBe("edges[0].to")
    expect(e.message).toMatch(/unknown node 'c'/)
    expect(e.fix).toMatch(/a, b/)
  })

  it("rejects duplicate node ids", () => {
    const e = irErrorOf(base.replace("{ id: b, kind: set", "{ id: a, kind: set"))
    expect(e.path).toBe("nodes[1].id")
    expect(e.message).toMatch(/duplicate node id 'a'/)
  })

  it("rejects a cycle with no exit and shows it", () => {
    const e = irErrorOf(base.replace("  - { from: a, to: b }", "  - { from: a, to: b }\n  - { from: b, to: a }"))
    expect(e.path).toBe("edges")
    expect(e.message).toMatch(/cycle with no exit: a → b → a/)
  })

  it("accepts a cycle with a conditional exit", () => {
    const text = base.replace(
      "  - { from: a, to: b }",
      "  - { from: a, to: b }\n  - from: b\n    cases:\n      - when: { field: n, op: lt, value: 5 }\n        to: a\n"
    )
    expect(Effect.runSync(Graph.fromYaml(text)).topology.nodes.size).toBe(2)
  })

  it("rejects set-valued state fields (determinism rule)", () => {
    const e = irErrorOf(base.replace("n: { type: integer, default: 0, reducer: add }", "n: { type: integer, default: 0, reducer: add }\n    tags: { type: set }"))
    expect(e.path).toBe("state_schema.fields.tags.type")
    expect(e.message).toMatch(/set-valued/)
  })

  it("names the bad entry of a flat state_schema, not its first field", () => {
    const flat = (entry: string) => `
ir_version: "1.0.0"
id: run:flat
state_schema:
  text: str
  ${entry}
nodes:
  - { id: a, kind: noop }
`
    const typed = irErrorOf(flat("res: { type: object }"))
    expect(typed).toMatchObject({ path: "state_schema.res.type", line: 6, message: "\"object\" is not a type of the flat state_schema form" })
    expect(typed.fix).toMatch(/use one of str, int, float, bool, bytes, list, dict, or declare the schema in the fields: form/)
    expect(irErrorOf(flat("res: integer"))).toMatchObject({ path: "state_schema.res", message: "\"integer\" is not a type of the flat state_schema form" })
    expect(irErrorOf(flat("res: { type: int, mirorr: true }"))).toMatchObject({ path: "state_schema.res.mirorr" })
  })

  it("a value outside a choice of literals gets every choice as its fix", () => {
    const error = irErrorOf(base.replace("reducer: add", "reducer: addd"))
    expect(error.path).toBe("state_schema.fields.n.reducer")
    expect(error.fix).toBe("did you mean 'add'? use one of: replace, append, add, merge, messages")
  })

  it("a value outside a choice of literals is named with every allowed value, and the one it is close to", () => {
    const reducer = irErrorOf(base.replace("reducer: add", "reducer: appnd"))
    expect(reducer).toMatchObject({
      path: "state_schema.fields.n.reducer",
      message: "Expected one of \"replace\", \"append\", \"add\", \"merge\", \"messages\", actual \"appnd\"",
      fix: "did you mean 'append'? use one of: replace, append, add, merge, messages"
    })
    const type = irErrorOf(base.replace("type: integer", "type: int"))
    expect(type).toMatchObject({
      path: "state_schema.fields.n.type",
      message: "Expected one of \"string\", \"integer\", \"number\", \"boolean\", \"object\", \"array\", \"any\", actual \"int\"",
      fix: "did you mean 'integer'? use one of: string, integer, number, boolean, object, array, any"
    })
    // Nothing close: the values alone.
    expect(irErrorOf(base.replace("type: integer", "type: widget")).fix).toBe("use one of: string, integer, number, boolean, object, array, any")
  })

  it("an unknown rule action kind gets the list of actions as its fix", () => {
    const error = irErrorOf(`
ir_version: "1.0.0"
id: run:act
nodes:
  - { id: a, kind: noop }
rules:
  - { id: r, when: { node: a }, then: [{ kind: gotoo, target: a }] }
`)
    expect(error.path).toBe("rules[0].then[0].kind")
    expect(error.fix).toBe("set kind to a rule action: goto, halt, parallel, retry, interrupt, assert or retract (docs/fathom.md, Actions)")
  })

  it("refuses an edge condition that can never match its field: another type, a value outside the enum, an order on a boolean", () => {
    const withCase = (when: string, fields = "") =>
      base.replace("    n: { type: integer, default: 0, reducer: add }", `    n: { type: integer, default: 0, reducer: add }\n    level: { type: string, enum: [low, medium], default: low }\n    ok: { type: boolean, default: false }${fields}`)
        .replace("  - { from: a, to: b }", `  - from: a\n    cases:\n      - when: ${when}\n        to: b\n    default: __end__`)
    const refused = (when: string) => {
      const e = irErrorOf(withCase(when))
      return [e.path, e.message, e.fix]
    }
    expect(refused('{ field: n, op: lt, value: "3" }')).toEqual([
      "edges[0].cases[0].when.value",
      "the condition compares integer field 'n' with \"3\" (a string): it can never match",
      "write a whole number value, e.g. value: 3"
    ])
    expect(refused("{ field: n, op: eq, value: 2.5 }")[1]).toBe("the condition compares integer field 'n' with 2.5 (a number): it can never match")
    expect(refused("{ field: level, op: eq, value: medum }")).toEqual([
      "edges[0].cases[0].when.value",
      "\"medum\" is not one of field 'level''s values (\"low\", \"medium\"): it can never match",
      "use one of \"low\", \"medium\", or add it to the field's enum"
    ])
    expect(refused("{ field: level, op: ne, value: medum }")[1]).toContain("it always holds")
    expect(refused("{ field: level, op: in, value: [low, hgh] }")[0]).toBe("edges[0].cases[0].when.value[1]")
    expect(refused("{ field: ok, op: gt, value: true }")).toEqual(["edges[0].cases[0].when", "operator 'gt' orders values, and boolean field 'ok' has no order", "use eq, ne, in, exists, truthy or falsy"])
    // What can match: the field's type, a fraction to order an integer, null for an empty field, any type on `any`.
    for (const when of ["{ field: n, op: lt, value: 2.5 }", "{ field: level, op: in, value: [low, medium] }", "{ field: level, op: eq, value: null }", "{ field: ok, op: eq, value: true }", "{ field: x, op: eq, value: \"3\" }"]) {
      const graph = Effect.runSync(Effect.either(Graph.fromYaml(withCase(when, "\n    x: { type: any }"))))
      expect([when, Either.isRight(graph)]).toEqual([when, true])
    }
  })

  it("refuses an enum that is empty, lists a value of another type, or sits on a list field", () => {
    const withEnum = (field: string) => base.replace("    n: { type: integer, default: 0, reducer: add }", `    n: { type: integer, default: 0, reducer: add }\n    f: ${field}`)
    const refused = (field: string) => {
      const e = irErrorOf(withEnum(field))
      return [e.path, e.message, e.fix]
    }
    expect(refused("{ type: string, enum: [a, 1] }")).toEqual(["state_schema.fields.f.enum[1]", "enum value 1 is not of the field's type 'string'", "write every enum value as a string (quote it: \"1\")"])
    expect(refused("{ type: string, enum: [] }")[1]).toBe("enum lists no values: no value would be allowed")
    expect(refused("{ type: integer, enum: [1, 2.5] }")[0]).toBe("state_schema.fields.f.enum[1]")
    expect(refused("{ type: array, enum: [a] }")[1]).toContain("enum on a field of type 'array'")
    // Inside a list's items and an object's properties too.
    expect(refused("{ type: array, items: { type: string, enum: [x, 1] } }")[0]).toBe("state_schema.fields.f.items.enum[1]")
    expect(refused("{ type: object, properties: { level: { type: string, enum: [] } } }")[0]).toBe("state_schema.fields.f.properties.level.enum")
    expect(Either.isRight(Effect.runSync(Effect.either(Graph.fromYaml(withEnum("{ type: number, enum: [1, 2.5], default: 1 }")))))).toBe(true)
  })

  it("rejects a reducer that cannot combine the field type", () => {
    const e = irErrorOf(base.replace("reducer: add", "reducer: append"))
    expect(e.path).toBe("state_schema.fields.n.reducer")
  })

  it("rejects a set node writing an undeclared field", () => {
    const e = irErrorOf(base.replace("{ id: b, kind: set, values: { n: 1 } }", "{ id: b, kind: set, values: { m: 1 } }"))
    expect(e.path).toBe("nodes[1].values.m")
  })

  it("reports a missing node module and a missing export", () => {
    const dir = tempDir()
    writeFileSync(join(dir, "nodes.ts"), "export const other = () => ({})\n")
    const withFn = (module: string) =>
      base.replace("{ id: b, kind: set, values: { n: 1 } }", `{ id: b, kind: function, module: ${module}, export: step }`)
    const missing = Effect.runSync(Effect.either(Graph.fromYaml(withFn("./absent.ts"), { baseDir: dir })))
    expect(Either.isLeft(missing) && missing.left).toBeInstanceOf(NodeModuleError)
    expect(Either.isLeft(missing) && (missing.left as NodeModuleError).reason).toBe("module-not-found")
    // A Python module (the original's node code) is not imported: the fix says to port it.
    writeFileSync(join(dir, "nodes.py"), "def step(state):\n    return {}\n")
    const python = Effect.runSync(Effect.either(Graph.fromYaml(withFn("./nodes.py"), { baseDir: dir })))
    expect(Either.isLeft(python) && python.left).toMatchObject({ _tag: "NodeModuleError", reason: "load-failed", message: "module './nodes.py' is not a JavaScript or TypeScript module" })
    expect(Either.isLeft(python) && (python.left as NodeModuleError).fix).toMatch(/port the Python code to a \.ts module/)
    return Effect.runPromise(Effect.either(Graph.fromYaml(withFn("./nodes.ts"), { baseDir: dir }))).then((r) => {
      expect(Either.isLeft(r)).toBe(true)
      const err = Either.isLeft(r) ? (r.left as NodeModuleError) : undefined
      expect(err?.reason).toBe("export-not-found")
      expect(err?.message).toMatch(/exports: other/)
      expect(err?.fix).toBe("export 'step' from ./nodes.ts, or name one of its exports instead: other")
    })
  })
})

describe("graph_hash", () => {
  const hashOf = (text: string) => Effect.runSync(Graph.fromYaml(text)).graphHash

  it("is independent of key order and formatting", () => {
    const doc = YAML.parse(base) as Record<string, unknown>
    const reordered = Object.fromEntries(Object.entries(doc).reverse())
    expect(hashOf(JSON.stringify(reordered))).toBe(hashOf(base))
  })

  it("changes on any semantic edit", () => {
    const h = hashOf(base)
    expect(hashOf(base.replace("values: { n: 1 } }\n  - { id: b", "values: { n: 2 } }\n  - { id: b"))).not.toBe(h)
    expect(hashOf(base.replace("default: 0", "default: 1"))).not.toBe(h)
    expect(hashOf(base.replace("reducer: add", "reducer: replace"))).not.toBe(h)
  })

  it("is the same in another process", () => {
    const dir = tempDir()
    const file = join(dir, "graph.yaml")
    writeFileSync(file, base)
    const out = execFileSync(process.execPath, [join(ROOT, "bin", "stargraph.js"), "validate", file], { encoding: "utf8" })
    expect(out).toContain(`graph_hash=${Effect.runSync(Graph.fromYaml(base)).graphHash}`)
  })

  it("changes when a node module's code changes", async () => {
    const dir = tempDir()
    const text = base.replace("{ id: b, kind: set, values: { n: 1 } }", "{ id: b, kind: function, module: ./nodes.ts, export: step }")
    writeFileSync(join(dir, "nodes.ts"), "export const step = () => ({ n: 1 })\n")
    const before = (await Effect.runPromise(Graph.fromYaml(text, { baseDir: dir }))).graphHash
    writeFileSync(join(dir, "nodes.ts"), "export const step = () => ({ n: 2 })\n")
    const after = (await Effect.runPromise(Graph.fromYaml(text, { baseDir: dir }))).graphHash
    expect(after).not.toBe(before)
  })
})
