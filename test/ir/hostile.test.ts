/**
 * Bad and hostile graph files: each is a typed IRValidationError or NodeModuleError
 * (one line, naming the file and the fix), never a crash, a hang or a silent acceptance.
 */
import { mkdirSync, symlinkSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import { describe, expect, it } from "vitest"
import { formatError, type IRValidationError, type NodeModuleError } from "../../src/errors.js"
import * as Graph from "../../src/graph/Graph.js"
import { tempDir } from "../helpers/cli.js"

const header = `ir_version: "1.0.0"
id: run:t
state_schema:
  fields:
    n: { type: integer, default: 0 }
    s: { type: string, default: "" }
`

const failure = (effect: Effect.Effect<unknown, Graph.GraphError>) => {
  const result = Effect.runSync(Effect.either(effect))
  if (Either.isRight(result)) throw new Error("expected the graph to be refused")
  expect(formatError(result.left)).not.toMatch(/\n/)
  return result.left
}

const fromYaml = (text: string) => failure(Graph.fromYaml(text, { file: "graph.yaml" }))

const writeGraph = (text: string, extra: Record<string, string> = {}) => {
  const dir = tempDir()
  for (const [name, content] of Object.entries(extra)) {
    mkdirSync(join(dir, name, ".."), { recursive: true })
    writeFileSync(join(dir, name), content)
  }
  const file = join(dir, "graph.yaml")
  writeFileSync(file, text)
  return { dir, file }
}

describe("hostile graph files", () => {
  it("an alias bomb is refused as an IRValidationError", () => {
    let text = header + `a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n`
    let previous = "a"
    for (const name of "bcdefghi") {
      text += `${name}: &${name} [${Array(9).fill(`*${previous}`).join(",")}]\n`
      previous = name
    }
    const error = fromYaml(text + "nodes: [{ id: x, kind: noop }]\n")
    expect(error._tag).toBe("IRValidationError")
    expect(error.message).toMatch(/alias/)
  })

  it("10,000-level block nesting is refused as an IRValidationError", () => {
    let deep = header + "nodes: [{ id: x, kind: noop }]\nextra:\n"
    for (let i = 1; i <= 10_000; i++) deep += `${" ".repeat(i * 2)}a:\n`
    deep += `${" ".repeat(20_002)}1\n`
    const error = fromYaml(deep)
    expect(error._tag).toBe("IRValidationError")
  })

  it("10,000 and 1,000 levels of flow nesting say so (the parser's stack overflow is not shown as a syntax error)", () => {
    for (const depth of [10_000, 1_000]) {
      const error = fromYaml(header + `nodes: [{ id: x, kind: noop }]\nextra: ${"[".repeat(depth)}${"]".repeat(depth)}\n`) as IRValidationError
      expect(error.message).toMatch(/nested (too deeply|more than 64 levels)/)
      expect(error.fix).toBe("keep nesting under 64 levels")
    }
  })

  it("deep flow nesting is refused with a typed error", () => {
    const error = fromYaml(header + `nodes: [{ id: x, kind: set, values: { s: ${"[".repeat(200)}1${"]".repeat(200)} } }]\n`)
    expect(error._tag).toBe("IRValidationError")
    expect(error.message).toMatch(/nested more than 64 levels/)
  })

  it("a graph over the size limit is refused before it is parsed; the limit is configurable", () => {
    const { file } = writeGraph(header + "nodes: [{ id: x, kind: noop }]\n# " + "x".repeat(3 * 1024 * 1024) + "\n")
    const t0 = Date.now()
    const error = failure(Graph.load(file))
    expect(Date.now() - t0).toBeLessThan(2_000)
    expect(error.message).toMatch(/over the 1,048,576-byte limit/)
    expect((error as IRValidationError).fix).toMatch(/STARGRAPH_MAX_GRAPH_BYTES/)
    const raised = Effect.runSync(Effect.either(Graph.load(file, { maxGraphBytes: 8 * 1024 * 1024 })))
    expect(Either.isRight(raised)).toBe(true)
  })

  // A 10,000-node graph builds (rules compiled) well within the test timeout; bench/rules.ts measures it.
  it("a 10,000-node graph builds, and its error lists only the first few node ids", () => {
    const count = 10_000
    const nodes = Array.from({ length: count }, (_, i) => `  - { id: n${i}, kind: noop }`).join("\n")
    const edges = Array.from({ length: count - 1 }, (_, i) => `  - { from: n${i}, to: n${i + 1} }`).join("\n")
    const ok = Effect.runSync(Effect.either(Graph.fromYaml(`${header}nodes:\n${nodes}\nedges:\n${edges}\n`)))
    expect(Either.isRight(ok)).toBe(true)
    const error = fromYaml(`${header}nodes:\n${nodes}\nedges:\n${edges}\n  - { from: n0, to: nowhere }\n`) as IRValidationError
    expect(error.fix).toMatch(/n0, n1, .*n9, … \(9,990 more\)/)
    expect(error.fix.length).toBeLessThan(200)
  })

  it("a bad schema default is one line", () => {
    const error = fromYaml(`ir_version: "1.0.0"
id: run:t
state_schema:
  fields:
    tags: { type: array, items: { type: integer }, default: [1, "two"] }
nodes: [{ id: x, kind: noop }]
`)
    expect(error.message).toMatch(/default does not match type 'array': at \[1\]: Expected/)
    expect(error.message).not.toMatch(/\n/)
  })

  it("!!js/function and unknown tags are refused, never evaluated", () => {
    expect(fromYaml(header + `nodes: [{ id: x, kind: set, values: { s: !!js/function "function () { return 1 }" } }]\n`).message).toMatch(/unknown YAML tag/)
    expect(fromYaml(header + "nodes: [{ id: x, kind: set, values: { s: !custom thing } }]\n").message).toMatch(/unknown YAML tag.*!custom/)
  })

  it("a template naming an undeclared field is refused", () => {
    const error = fromYaml(header + "nodes: [{ id: x, kind: set, values: { s: \"hello {{nope}}\" } }]\n") as IRValidationError
    expect(error.path).toBe("nodes[0].values.s")
    expect(error.message).toBe("the template reads undeclared state field 'nope'")
  })

  it("a NUL byte in a string is refused", () => {
    const error = fromYaml(header + "nodes: [{ id: x, kind: set, values: { s: \"a\\0b\" } }]\n") as IRValidationError
    expect(error.path).toBe("nodes[0].values.s")
    expect(error.message).toMatch(/NUL/)
  })
})

describe("module paths are confined to the graph's folder", () => {
  const functionGraph = (module: string) => header + `nodes: [{ id: x, kind: function, module: "${module}", export: f }]\n`

  it("a relative path that climbs out of the folder is refused, naming the graph file", () => {
    const { file } = writeGraph(functionGraph("../../etc/passwd"))
    const error = failure(Graph.load(file)) as NodeModuleError
    expect(error._tag).toBe("NodeModuleError")
    expect(error.reason).toBe("outside-root")
    expect(error.file).toBe(file)
    expect(formatError(error)).toContain(file)
  })

  it("an absolute path is refused", () => {
    const { file } = writeGraph(functionGraph("/etc/passwd"))
    expect((failure(Graph.load(file)) as NodeModuleError).reason).toBe("outside-root")
  })

  it("a symlink inside the folder pointing outside it is refused", () => {
    const outside = writeGraph("", { "evil.js": "export const f = () => ({})\n" })
    const { dir, file } = writeGraph(functionGraph("./link.js"))
    symlinkSync(join(outside.dir, "evil.js"), join(dir, "link.js"))
    expect((failure(Graph.load(file)) as NodeModuleError).reason).toBe("outside-root")
  })

  it("a module in a subfolder loads, and moduleRoots admits another folder", async () => {
    const inside = writeGraph(functionGraph("./lib/nodes.js"), { "lib/nodes.js": "export const f = () => ({ n: 1 })\n" })
    const loaded = await Effect.runPromise(Effect.either(Graph.load(inside.file)))
    expect(Either.isRight(loaded), JSON.stringify(loaded)).toBe(true)
    const shared = writeGraph("", { "shared.js": "export const f = () => ({ n: 1 })\n" })
    const { file } = writeGraph(functionGraph(join(shared.dir, "shared.js")))
    expect((failure(Graph.load(file)) as NodeModuleError).reason).toBe("outside-root")
    const admitted = await Effect.runPromise(Effect.either(Graph.load(file, { moduleRoots: [shared.dir] })))
    expect(Either.isRight(admitted)).toBe(true)
  })
})
