import { mkdirSync, symlinkSync, writeFileSync } from "node:fs"
import { join } from "node:path"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Predicate from "effect/Predicate"
import * as Schema from "effect/Schema"
import { describe, expect, expectTypeOf, it } from "vitest"
import { Checkpointer } from "../../src/checkpoint/Checkpointer.js"
import * as MemoryCheckpointer from "../../src/checkpoint/MemoryCheckpointer.js"
import * as SqliteCheckpointer from "../../src/checkpoint/SqliteCheckpointer.js"
import { NodeExecutionError, nodeErrorAs } from "../../src/errors.js"
import * as Graph from "../../src/graph/Graph.js"
import type { NodeFunction } from "../../src/nodes/Executor.js"
import * as NodeKind from "../../src/nodes/NodeKind.js"
import * as NodeKinds from "../../src/nodes/NodeKinds.js"
import * as Replay from "../../src/replay/Replay.js"
import { ROOT, tempDir } from "../helpers/cli.js"

const sqlite = () => SqliteCheckpointer.layer({ filename: join(tempDir(), "runs.sqlite") })
const run = <A, E>(effect: Effect.Effect<A, E, Checkpointer>, layer: Layer.Layer<Checkpointer, unknown> = sqlite()) =>
  Effect.runPromise(Effect.provide(effect, layer) as Effect.Effect<A, E>)
const buildError = async (effect: Effect.Effect<unknown, Graph.GraphError>) => {
  const result = await Effect.runPromise(Effect.either(effect))
  if (Either.isRight(result)) throw new Error("expected the graph to be refused")
  return result.left
}
const runToEnd = <R = never>(graph: Graph.Graph<R>, inputs: Record<string, unknown> = {}) =>
  Effect.flatMap(graph.start({ inputs }), (r) => r.start())

/**
 * Two fan-out siblings, with counters: `charge` makes a live call and a direct side effect;
 * `ask` asks twice (`ok?`, then `sure about <answer>?`).
 */
const chargeAndAsk = () => {
  const charged = { live: 0, runs: 0, direct: 0 }
  const charge: NodeFunction = async (_state, ctx) => {
    charged.runs++
    charged.direct++ // a side effect made directly, not through ctx.call
    const receipt = await ctx.call("payments.charge", { amount: 5 }, () => `receipt-${++charged.live}`)
    return { log: [String(receipt)] }
  }
  const asked = { runs: 0 }
  const ask: NodeFunction = async (_state, ctx) => {
    asked.runs++
    const a = String(await ctx.interrupt("ok?"))
    const b = String(await ctx.interrupt(`sure about ${a}?`))
    return { a: `${a}/${b}`, log: ["asked"] }
  }
  return { charged, charge, asked, ask }
}

const yaml = (body: string) => `ir_version: "1.0.0"\nid: run:kinds\n${body}`

describe("template kind", () => {
  it("renders a Python str.format template over state fields into config.out", async () => {
    const graph = await Effect.runPromise(Graph.fromYaml(yaml(`
state_schema: { task: str, score: float, tags: list, prompt: { type: str, default: "" } }
nodes:
  - id: render
    kind: template
    config:
      template: "{task}! score={score:.2f} [{score:>8.1f}] {{literal}} {tags!r} {task!r}"
      out: prompt
`)))
    const summary = await run(runToEnd(graph, { task: "fix it", score: 0.875, tags: ["a", "b"] }))
    expect(summary.status).toBe("done")
    expect(summary.final_state["prompt"]).toBe("fix it! score=0.88 [     0.9] {literal} ['a', 'b'] 'fix it'")
  })

  it("fails the node, naming the placeholder, on a value its spec cannot format (as Python's format raises): no silent coercion", async () => {
    const graph = await Effect.runPromise(Graph.fromYaml(yaml(`
state_schema: { fields: { score: { type: any, default: null }, topic: { type: string, default: "" }, out: { type: string, default: "" } } }
nodes:
  - { id: render, kind: template, config: { template: "a={score:.2f} b={topic:>4}", out: out } }
`)))
    expect((await run(runToEnd(graph, { score: 2.5, topic: "x" }))).final_state["out"]).toBe("a=2.50 b=   x")
    const unset = await run(Effect.either(runToEnd(graph, { topic: "x" })))
    expect(Either.isLeft(unset) && unset.left).toMatchObject({ _tag: "NodeExecutionError", nodeId: "render" })
    expect(Either.isLeft(unset) && String((unset.left as { cause: unknown }).cause)).toMatch(/^template placeholder \{score:\.2f\}: unsupported format string passed to NoneType\.__format__ \(the value is None\), as Python.s str\.format says \(fix: give the field a value/)
  })

  it("prints a number by its field's declared type, as the original's typed state does: float fields as floats, int and any fields as before", async () => {
    const graph = await Effect.runPromise(Graph.fromYaml(yaml(`
state_schema:
  fields:
    score: { type: number }
    big: { type: number }
    threshold: { type: number, default: 2.0 }
    n: { type: integer }
    whatever: { type: any, default: null }
    nested: { type: object }
    out: { type: string, default: "" }
nodes:
  - { id: render, kind: template, config: { template: "{score} {score!r} {big} {threshold} {threshold:>5} {score:.2} {n} {whatever} {nested}", out: out } }
`)))
    const summary = await run(runToEnd(graph, { score: 1, big: 1e16, n: 3, whatever: 4, nested: { x: 1 } }))
    expect(summary.final_state["out"]).toBe("1.0 1.0 1e+16 2.0   2.0 1.0 3 4 {'x': 1}")
  })

  it("refuses an integer format code on a float field (Python's ValueError), naming the node, the field and the fix", async () => {
    const graph = await Effect.runPromise(Graph.fromYaml(yaml(`
state_schema: { score: float, n: int, out: { type: str, default: "" } }
nodes:
  - { id: render, kind: template, config: { template: "{n:d} {score:d}", out: out } }
`)))
    const result = await run(Effect.either(runToEnd(graph, { score: 1, n: 2 })))
    expect(Either.isLeft(result) && result.left).toMatchObject({ _tag: "NodeExecutionError", nodeId: "render" })
    const cause = String(Either.isLeft(result) && (result.left as { cause: unknown }).cause)
    expect(cause).toMatch(/^template placeholder \{score:d\}: Unknown format code 'd' for object of type 'float' \(the value is 1\.0\), as Python's str\.format says/)
    expect(cause).toContain("fix: 'score' is declared number, a Python float: write {score:.0f} to print it rounded, or declare it integer (int) if it holds whole numbers")
  })

  it("a set node's {{placeholder}} of an undeclared field names the field without braces, and the declared field it is close to", async () => {
    const error = await buildError(Graph.fromYaml(yaml(`
state_schema: { fields: { name: { type: string }, greeting: { type: string } } }
nodes:
  - { id: greet, kind: set, values: { greeting: "hi {{nmae.first}}" } }
`), { file: "g.yaml" }))
    expect(error._tag).toBe("IRValidationError")
    expect([error.message, (error as { fix?: string }).fix]).toEqual(["the template reads undeclared state field 'nmae'", "did you mean 'name'? use a declared field in the placeholder: name, greeting"])
  })

  it("refuses placeholders that are not bare declared fields, bad braces and an undeclared out field, at their path", async () => {
    const cases: Array<[string, string, RegExp]> = [
      ["{nope}", "prompt", /undeclared state field 'nope'$/],
      ["{tsak}", "prompt", /undeclared state field 'tsak'$/],
      ["{task.attr}", "prompt", /must name a state field/],
      ["{0}", "prompt", /must name a state field/],
      ["open { brace", "prompt", /unclosed '\{'/],
      ["{task}", "missing", /out 'missing' is not a declared state field/]
    ]
    for (const [template, out, message] of cases) {
      const error = await buildError(Graph.fromYaml(yaml(`
state_schema: { task: str, prompt: str }
nodes:
  - { id: render, kind: template, config: { template: ${JSON.stringify(template)}, out: ${out} } }
`), { file: "g.yaml" }))
      expect(error._tag).toBe("IRValidationError")
      expect(error.message).toMatch(message)
      if (template === "{tsak}") expect((error as { fix?: string }).fix).toBe("did you mean 'task'? use a declared field: task, prompt")
      expect((error as { path: string }).path).toMatch(/^nodes\[0\]\.config\.(template|out)$/)
      expect((error as { line?: number }).line).toBe(6)
    }
  })

  it("refuses an out field whose declared type cannot hold the rendered string (an int, a list with append), when the graph is built", async () => {
    const cases: Array<[string, string]> = [
      ["n", "the template renders a string, which state field 'n' (declared integer) cannot hold"],
      ["log", "the template renders a string, which state field 'log' (declared array, reducer append) cannot hold"]
    ]
    for (const [out, message] of cases) {
      const error = await buildError(Graph.fromYaml(yaml(`
state_schema: { fields: { task: { type: string }, n: { type: integer }, log: { type: array, reducer: append }, loose: { type: any } } }
nodes:
  - { id: render, kind: template, config: { template: "{task}", out: ${out} } }
`), { file: "g.yaml" }))
      expect(error).toMatchObject({ _tag: "IRValidationError", path: "nodes[0].config.out", message, fix: `set out to a string field (task, loose), or declare '${out}' as a string` })
    }
    // A string or untyped field takes it, as before.
    const graph = await Effect.runPromise(Graph.fromYaml(yaml(`
state_schema: { fields: { task: { type: string }, loose: { type: any } } }
nodes:
  - { id: render, kind: template, config: { template: "{task}!", out: loose } }
`)))
    const summary = await run(runToEnd(graph, { task: "go" }))
    expect(summary.final_state["loose"]).toBe("go!")
  })
})

describe("node decoding by kind", () => {
  it("an unknown field of a kind is refused at its path and line", async () => {
    const error = await buildError(Graph.fromYaml(yaml(`
state_schema: { message: str }
nodes:
  - id: a
    kind: set
    values: { message: hi }
    valuez: { message: typo }
`), { file: "g.yaml" }))
    expect(error).toMatchObject({ _tag: "IRValidationError", path: "nodes[0].valuez", line: 9 })
    expect(error.message).toMatch(/is unexpected/)
  })

  it("a field its kind takes under config, written beside it, is refused with the fix to move it", async () => {
    const error = await buildError(Graph.fromYaml(yaml(`
state_schema: { a: str, b: { type: str, default: "" } }
nodes:
  - id: r
    kind: template
    template: "{a}"
    out: b
`), { file: "g.yaml" }))
    expect(error).toMatchObject({ _tag: "IRValidationError", path: "nodes[0].template", line: 8 })
    expect((error as { fix: string }).fix).toBe("move 'template' under config: (config: {template: …}); a template node takes it there")
  })

  it("an unknown kind lists the kinds; a Python module reference says to port it", async () => {
    const unknown = await buildError(Graph.fromYaml(yaml(`
state_schema: { message: str }
nodes: [{ id: a, kind: sett }]
`)))
    expect(unknown).toMatchObject({ _tag: "IRValidationError", path: "nodes[0].kind", message: "unknown node kind 'sett'" })
    expect((unknown as { fix: string }).fix).toMatch(/set, function, interrupt, .*subgraph.*\.\/my-node\.ts:MyNode/)
    const python = await buildError(Graph.fromYaml(yaml(`
state_schema: { message: str }
nodes: [{ id: a, kind: "demos.sentinel.graph.nodes:PassthroughNode" }]
`)))
    expect(python.message).toMatch(/Python module reference/)
    expect((python as { fix: string }).fix).toMatch(/\.\/path\/to\/module\.ts:PassthroughNode/)
  })
})

/** A folder with node-kind modules of every accepted shape. */
const kindModules = () => {
  const dir = tempDir()
  // The modules import effect like an app's would: from the project's node_modules.
  symlinkSync(join(ROOT, "node_modules"), join(dir, "node_modules"))
  writeFileSync(join(dir, "kinds.ts"), `
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import { make } from ${JSON.stringify(join(ROOT, "src/nodes/NodeKind.ts"))}

/** A NodeKind with its own config schema. */
export const Shout = make({
  name: "shout",
  summary: "Upper-cases a field.",
  fields: { config: Schema.Struct({ field: Schema.String, times: Schema.optionalWith(Schema.Int, { default: () => 1 }) }) },
  check: (node, ctx) => ctx.fields.has(node.config.field) ? undefined : { path: ["config", "field"], message: "undeclared field " + node.config.field, fix: "declare it" },
  compile: (node) => Effect.succeed({
    execute: (state) => Effect.succeed({ _tag: "Update", update: { [node.config.field]: String(state[node.config.field]).toUpperCase().repeat(node.config.times) } })
  })
})

/** The original's shape: a class constructed with the node's config, with execute(state, ctx). */
export class Greeter {
  constructor(private readonly config: { greeting?: string }) {}
  async execute(state: { name: string }) {
    return { message: \`\${this.config.greeting ?? "hello"} \${state.name}\` }
  }
}

/** An object with execute. */
export const counter = { execute: (state: { n: number }) => ({ n: state.n + 1 }) }

/** A plain node function. */
export const tag = (_state: unknown, ctx: { nodeId: string }) => ({ message: "tagged by " + ctx.nodeId })

export const notAKind = 42

export class NoExecute {
  run() { return {} }
}
`)
  return dir
}

describe("third-party kinds", () => {
  it("loads kinds by module reference: a NodeKind, a class with execute (constructed with config), an object and a function", async () => {
    const dir = kindModules()
    writeFileSync(join(dir, "graph.yaml"), yaml(`
state_schema: { name: str, message: { type: str, default: "" }, n: { type: int, default: 0 } }
nodes:
  - { id: greet, kind: "./kinds.ts:Greeter", config: { greeting: howdy } }
  - { id: shout, kind: "./kinds.ts:Shout", config: { field: message, times: 2 } }
  - { id: count, kind: "./kinds.ts#counter" }
  - { id: count_again, kind: "./kinds.ts#counter" }
`))
    const graph = await Effect.runPromise(Graph.load(join(dir, "graph.yaml")))
    const summary = await run(runToEnd(graph, { name: "ada" }))
    expect(summary.status).toBe("done")
    expect(summary.final_state).toEqual({ name: "ada", message: "HOWDY ADAHOWDY ADA", n: 2 })

    // The kind's own schema and checks apply, located in the graph.
    writeFileSync(join(dir, "bad.yaml"), yaml(`
state_schema: { name: str }
nodes:
  - { id: shout, kind: "./kinds.ts:Shout", config: { field: nope } }
`))
    const undeclared = await buildError(Graph.load(join(dir, "bad.yaml")))
    expect(undeclared).toMatchObject({ _tag: "IRValidationError", path: "nodes[0].config.field", message: "undeclared field nope" })
    writeFileSync(join(dir, "bad2.yaml"), yaml(`
state_schema: { name: str }
nodes:
  - { id: loud, kind: "./kinds.ts:Shout", config: { field: name, volume: 11 } }
`))
    expect(await buildError(Graph.load(join(dir, "bad2.yaml")))).toMatchObject({ _tag: "IRValidationError", path: "nodes[0].config.volume" })

    // An export that is not a kind, and a module outside the graph's folder, are refused.
    writeFileSync(join(dir, "bad3.yaml"), yaml(`
state_schema: { name: str }
nodes: [{ id: x, kind: "./kinds.ts:notAKind" }]
`))
    expect(await buildError(Graph.load(join(dir, "bad3.yaml")))).toMatchObject({ _tag: "NodeModuleError", reason: "not-a-function", nodeId: "x" })
    writeFileSync(join(dir, "bad5.yaml"), yaml(`
state_schema: { name: str }
nodes: [{ id: x, kind: "./kinds.ts:NoExecute" }]
`))
    expect(await buildError(Graph.load(join(dir, "bad5.yaml")))).toMatchObject({ _tag: "NodeModuleError", message: "class 'NoExecute' of './kinds.ts' has no execute(state, ctx) method" })
    writeFileSync(join(dir, "bad4.yaml"), yaml(`
state_schema: { name: str }
nodes: [{ id: x, kind: "../elsewhere/kinds.ts:Shout" }]
`))
    expect(await buildError(Graph.load(join(dir, "bad4.yaml")))).toMatchObject({ _tag: "NodeModuleError", reason: "outside-root" })
  })

  it("a module-referenced kind's code is part of the graph hash", async () => {
    const dir = kindModules()
    writeFileSync(join(dir, "graph.yaml"), yaml(`
state_schema: { message: str }
nodes: [{ id: t, kind: "./kinds.ts:tag" }]
`))
    const before = await Effect.runPromise(Graph.load(join(dir, "graph.yaml")))
    writeFileSync(join(dir, "kinds.ts"), "export const tag = () => ({ message: 'changed' })\n")
    const after = await Effect.runPromise(Graph.load(join(dir, "graph.yaml")))
    expect(after.graphHash).not.toBe(before.graphHash)
  })

  it("kinds provided as a Layer are available to every graph built in that context; a provided kind cannot replace a built-in", async () => {
    const Stamp = NodeKind.make({
      name: "stamp",
      summary: "Writes a fixed stamp.",
      fields: { stamp: Schema.String },
      compile: (node) => Effect.succeed({ execute: () => Effect.succeed({ _tag: "Update", update: { message: node.stamp } }) })
    })
    const text = yaml(`
state_schema: { message: str }
nodes: [{ id: s, kind: stamp, stamp: approved }]
`)
    expect(await buildError(Graph.fromYaml(text))).toMatchObject({ message: "unknown node kind 'stamp'" })
    // A module path without its export is said as that, with the form to write.
    for (const ref of ["./my-node.ts", "../nodes/stamp.js", "stamp.mjs"]) {
      const noExport = await buildError(Graph.fromYaml(yaml(`
state_schema: { message: str }
nodes: [{ id: s, kind: "${ref}" }]
`)))
      expect(noExport).toMatchObject({ _tag: "IRValidationError", path: "nodes[0].kind", message: `node kind '${ref}' names a module but not its export` })
      expect(noExport.fix).toContain(`kind: "${ref}:<Export>"`)
    }
    const summary = await run(Effect.flatMap(Graph.fromYaml(text), (g) => runToEnd(g, { message: "draft" })).pipe(Effect.provide(NodeKinds.layer(Stamp))))
    expect(summary.final_state).toEqual({ message: "approved" })
    const impostor = NodeKind.make({ name: "set", summary: "Not the real set kind.", fields: {}, compile: () => Effect.die("never") })
    const clash = await buildError(Graph.fromYaml(text).pipe(Effect.provide(NodeKinds.layer(Stamp, impostor))))
    expect(clash.message).toBe("two node kinds are named 'set'")
  })

  it("kinds a package declares in package.json ('stargraph': {'nodes': …}) are found from the graph's project", async () => {
    const project = tempDir()
    writeFileSync(join(project, "package.json"), JSON.stringify({ name: "my-app", private: true }))
    const pkg = join(project, "node_modules", "@acme", "geo-nodes")
    mkdirSync(join(pkg, "dist"), { recursive: true })
    writeFileSync(join(pkg, "package.json"), JSON.stringify({ name: "@acme/geo-nodes", stargraph: { nodes: { geo_lookup: "./dist/geo.mjs#GeoLookup" } } }))
    writeFileSync(join(pkg, "dist", "geo.mjs"), `
export class GeoLookup {
  constructor(config) { this.config = config }
  execute(state) { return { country: (this.config.table ?? {})[state.city] ?? "unknown" } }
}
`)
    mkdirSync(join(project, "graphs"))
    writeFileSync(join(project, "graphs", "graph.yaml"), yaml(`
state_schema: { city: str, country: { type: str, default: "" } }
nodes: [{ id: geo, kind: geo_lookup, config: { table: { Paris: FR } } }]
`))
    const graph = await Effect.runPromise(Graph.load(join(project, "graphs", "graph.yaml")))
    const summary = await run(runToEnd(graph, { city: "Paris" }))
    expect(summary.final_state).toEqual({ city: "Paris", country: "FR" })
  })
})

describe("kinds declared by packages", () => {
  /** A project with `node_modules/<name>` packages declaring `nodes` (kind → entry), each with k.mjs exporting K. */
  const project = (packages: Record<string, Record<string, string>>, dir = tempDir()) => {
    mkdirSync(dir, { recursive: true })
    writeFileSync(join(dir, "package.json"), JSON.stringify({ name: "app", private: true }))
    for (const [name, nodes] of Object.entries(packages)) {
      mkdirSync(join(dir, "node_modules", name), { recursive: true })
      writeFileSync(join(dir, "node_modules", name, "package.json"), JSON.stringify({ name, stargraph: { nodes } }))
      writeFileSync(join(dir, "node_modules", name, "k.mjs"), `export class K { execute() { return { who: "${name}" } } }\n`)
    }
    return dir
  }
  const graphIn = (dir: string, kind: string, extra = "") => {
    writeFileSync(join(dir, "graph.yaml"), yaml(`
state_schema: { who: { type: str, default: none } }
nodes: [{ id: x, kind: "${kind}"${extra} }]
`))
    return join(dir, "graph.yaml")
  }

  it("a package kind's graph hash does not depend on where the project is", async () => {
    const a = project({ "acme-kinds": { stamp: "./k.mjs#K" } })
    const b = project({ "acme-kinds": { stamp: "./k.mjs#K" } }, join(tempDir(), "deeper", "elsewhere"))
    const [ga, gb] = await Promise.all([a, b].map((dir) => Effect.runPromise(Graph.load(graphIn(dir, "stamp")))))
    expect(ga!.graphHash).toBe(gb!.graphHash)
    writeFileSync(join(b, "node_modules", "acme-kinds", "k.mjs"), `export class K { execute() { return { who: "changed" } } }\n`)
    const changed = await Effect.runPromise(Graph.load(graphIn(b, "stamp", ", description: reloaded")))
    const same = await Effect.runPromise(Graph.load(graphIn(a, "stamp", ", description: reloaded")))
    expect(changed.graphHash).not.toBe(same.graphHash)
  })

  it("package kinds are found from a graph folder with its own package.json, and in node_modules of folders above (hoisted workspaces)", async () => {
    const root = project({ "acme-kinds": { stamp: "./k.mjs#K" } })
    const graphs = join(root, "packages", "graphs")
    mkdirSync(graphs, { recursive: true })
    writeFileSync(join(graphs, "package.json"), JSON.stringify({ type: "module" }))
    const graph = await Effect.runPromise(Graph.load(graphIn(graphs, "stamp")))
    expect((await run(runToEnd(graph))).final_state).toEqual({ who: "acme-kinds" })
  })

  it("symlinked packages (workspaces, pnpm, npm link) and a graph folder reached through a symlink load their modules", async () => {
    const root = tempDir()
    // A workspace member linked into node_modules, as npm, yarn and pnpm install it.
    const member = join(root, "packages", "acme-kinds")
    mkdirSync(member, { recursive: true })
    writeFileSync(join(member, "package.json"), JSON.stringify({ name: "acme-kinds", stargraph: { nodes: { stamp: "./k.mjs#K" } } }))
    writeFileSync(join(member, "k.mjs"), "export class K { execute() { return { who: \"linked\" } } }\n")
    const app = project({}, join(root, "releases", "v1"))
    mkdirSync(join(app, "node_modules"), { recursive: true })
    symlinkSync(member, join(app, "node_modules", "acme-kinds"), "dir")
    writeFileSync(join(app, "nodes.mjs"), "export const own = () => ({ who: \"own\" })\n")
    // The graph is loaded through a `current` link to its release, as deploys do.
    symlinkSync(app, join(root, "current"), "dir")
    graphIn(app, "stamp")
    const linked = await Effect.runPromise(Graph.load(join(root, "current", "graph.yaml")))
    expect((await run(runToEnd(linked))).final_state).toEqual({ who: "linked" })
    writeFileSync(join(app, "own.yaml"), yaml(`
state_schema: { who: { type: str, default: none } }
nodes: [{ id: x, kind: function, module: ./nodes.mjs, export: own }]
`))
    const own = await Effect.runPromise(Graph.load(join(root, "current", "own.yaml")))
    expect((await run(runToEnd(own))).final_state).toEqual({ who: "own" })
  })

  it("refuses a kind two packages declare, naming both; says when a package's kind is shadowed by a built-in", async () => {
    const dir = project({ "pkg-a": { stamp: "./k.mjs#K", set: "./k.mjs#K" }, "pkg-b": { stamp: "./k.mjs#K" } })
    const clash = await buildError(Graph.load(graphIn(dir, "stamp")))
    expect(clash).toMatchObject({ _tag: "IRValidationError", path: "nodes[0].kind", message: "the node kind 'stamp' is declared by several packages: pkg-a, pkg-b" })
    const shadowed = await buildError(Graph.load(graphIn(dir, "set", ", config: { anything: 1 }")))
    expect(shadowed.message).toMatch(/\(the package pkg-a also declares a kind named 'set', but the built-in kind 'set' takes precedence\)$/)
    // A mistake on a node of the package's own kind is only that: nothing shadows it.
    const own = project({ "pkg-c": { solo: "./k.mjs#K" } })
    const mistake = await buildError(Graph.load(graphIn(own, "solo", ", extra: 1")))
    expect(mistake).toMatchObject({ _tag: "IRValidationError", path: "nodes[0].extra" })
    expect(mistake.message).not.toMatch(/takes precedence/)
    expect(mistake.fix).not.toMatch(/rename it/)
  })

  it("a package entry with no export, a missing file, a path out of the package or a name that is no kind name is an error about that entry", async () => {
    const dir = project({ "acme-kinds": { noexport: "./k.mjs", missing: "./dist/gone.mjs#K", escape: "../../outside.mjs#K", "acme:stamp": "./k.mjs#K" } })
    writeFileSync(join(dir, "outside.mjs"), "export class K { execute() { return {} } }\n")
    const errors = await Promise.all(["noexport", "missing", "escape", "acme:stamp"].map((kind) => buildError(Graph.load(graphIn(dir, kind)))))
    expect(errors.map((e) => e.message)).toEqual([
      "the package acme-kinds declares the node kind 'noexport' as './k.mjs', but './k.mjs' names no export",
      expect.stringMatching(/^the package acme-kinds declares the node kind 'missing' in \.\/dist\/gone\.mjs#K, which does not exist/),
      expect.stringMatching(/^the package acme-kinds declares the node kind 'escape' in \.\.\/\.\.\/outside\.mjs#K, outside the package's folder/),
      "the package acme-kinds declares the node kind 'acme:stamp' as './k.mjs#K', but the kind name 'acme:stamp' is not a valid kind name"
    ])
    for (const e of errors) expect(e.fix).toContain("acme-kinds's package.json")
  })
})

describe("kinds that break their contract", () => {
  class KindFailure extends Schema.TaggedError<KindFailure>()("KindFailure", { reason: Schema.String }) {}
  const kind = (name: string, execute: (...args: ReadonlyArray<unknown>) => unknown) =>
    NodeKind.make({ name, summary: "A broken kind.", fields: {}, compile: () => Effect.succeed({ execute: execute as never }) })
  const broken = [
    kind("dies", () => Effect.sync(() => (undefined as unknown as { boom: string }).boom)),
    kind("throws", () => {
      throw new RangeError("thrown outside any Effect")
    }),
    kind("promise", async () => ({ _tag: "Update", update: { n: 2 } })),
    kind("plain", () => Effect.succeed({ n: 2 })),
    kind("nullupdate", () => Effect.succeed({ _tag: "Update", update: null })),
    kind("ownerror", () => Effect.fail(new KindFailure({ reason: "quota" })))
  ]
  const graphOf = (name: string) => Graph.fromYaml(yaml(`
state_schema: { n: { type: int, default: 1 } }
nodes: [{ id: x, kind: ${name} }]
`)).pipe(Effect.provide(NodeKinds.layer(...broken)))

  it("an executor that dies, throws, returns no Effect or a bad outcome, or fails with its own error fails the run with NodeExecutionError naming the node; nothing is left running", async () => {
    const layer = sqlite()
    const expected: Record<string, RegExp> = {
      dies: /TypeError: Cannot read properties of undefined/,
      throws: /RangeError: thrown outside any Effect/,
      promise: /node kind 'promise' execute returned a Promise, not an Effect/,
      plain: /node kind 'plain' returned \{"n":2\}; its execute must return an Effect of \{_tag: "Update"/,
      nullupdate: /node kind 'nullupdate' returned an Update whose update is null/,
      ownerror: /KindFailure/
    }
    for (const [name, cause] of Object.entries(expected)) {
      const graph = await Effect.runPromise(graphOf(name))
      const failed = await run(Effect.flatMap(graph.start({ inputs: {} }), (r) => Effect.either(r.start())), layer)
      expect(Either.isLeft(failed), name).toBe(true)
      if (Either.isRight(failed)) continue
      expect(failed.left, name).toBeInstanceOf(NodeExecutionError)
      expect(failed.left, name).toMatchObject({ nodeId: "x", step: 1 })
      expect((failed.left as NodeExecutionError).cause, name).toMatch(cause)
      if (name === "ownerror") expect(failed.left, name).toMatchObject({ errorTag: "KindFailure", error: { reason: "quota" } })
    }
    const runs = await run(Effect.flatMap(Checkpointer, (c) => c.listRuns({ limit: 50 })), layer)
    expect(runs.runs.map((r) => r.status)).toEqual(Object.keys(expected).map(() => "failed"))
    for (const r of runs.runs) expect(r.error).toMatchObject({ type: "NodeExecutionError", details: { nodeId: "x", step: 1 } })
  })

  it("a kind whose Effect ends interrupted in a parallel step fails only its own node; its sibling's call is replayed by a live fork", async () => {
    const draws = { n: 0 }
    const Good = NodeKind.make({
      name: "good",
      summary: "Draws a number through a call.",
      fields: {},
      compile: () =>
        Effect.succeed({
          execute: (_state, input) => Effect.map(input.calls.callEffect("lookup", { q: 1 }, Effect.sync(() => ++draws.n)), (n) => ({ _tag: "Update" as const, update: { a: n } }))
        })
    })
    const Quits = NodeKind.make({ name: "quits", summary: "Gives up.", fields: {}, compile: () => Effect.succeed({ execute: () => Effect.zipRight(Effect.sleep("20 millis"), Effect.interrupt) }) })
    const layer = sqlite()
    const graph = await Effect.runPromise(Graph.fromYaml(yaml(`
state_schema: { a: { type: int, default: 0 }, s: { type: str, default: "" } }
nodes:
  - { id: start, kind: set, values: { s: x } }
  - { id: good, kind: good }
  - { id: quits, kind: quits }
edges: [{ from: start, to: [good, quits] }]
`)).pipe(Effect.provide(NodeKinds.layer(Good, Quits))))
    const failed = await run(Effect.flatMap(graph.start({ inputs: {} }), (r) => Effect.either(r.start())), layer)
    expect(Either.isLeft(failed) && failed.left).toMatchObject({ _tag: "NodeExecutionError", nodeId: "quits", step: 2 })
    const runId = (await run(Effect.flatMap(Checkpointer, (c) => c.listRuns({ limit: 1 })), layer)).runs[0]!.run_id
    await run(Replay.fork(graph, runId, { fromStep: 1, liveAfterFork: true }), layer)
    // The fork called quits again and failed again, but good's lookup was answered from the recording.
    expect(draws.n).toBe(1)
  })

  it("a defect of the runtime itself (here an app Checkpointer whose step commit dies) marks the run error, not running", async () => {
    const dyingCommits = Layer.effect(Checkpointer, Effect.map(MemoryCheckpointer.make, (c) => ({ ...c, commitSteps: () => Effect.die(new Error("disk controller on fire")) })))
    const graph = await Effect.runPromise(Graph.fromYaml(yaml(`
state_schema: { n: { type: int, default: 1 } }
nodes: [{ id: s, kind: set, values: { n: 2 } }]
`)))
    const outcome = await Effect.runPromise(Effect.gen(function*() {
      const handle = yield* graph.start({ inputs: {} })
      const exit = yield* Effect.exit(handle.start())
      const record = yield* Effect.flatMap(Checkpointer, (c) => c.getRun(handle.runId))
      return { exit, record: Option.getOrThrow(record) }
    }).pipe(Effect.provide(dyingCommits)))
    expect(outcome.exit._tag).toBe("Failure")
    expect(outcome.record).toMatchObject({ status: "error", owner: null, error: { type: "StargraphRuntimeError" } })
    expect(outcome.record.error?.message).toMatch(/disk controller on fire/)
  })

  it("a kind whose check or compile throws, returns the wrong shape, or is missing is refused when the graph is built, at the node's kind, naming the kind", async () => {
    const ok = () => Effect.succeed({ execute: () => Effect.succeed({ _tag: "Update" as const, update: {} }) })
    const half = [
      NodeKind.make({ name: "compilethrows", summary: "x", fields: {}, compile: () => {
        throw new Error("compile threw")
      } }),
      NodeKind.make({ name: "checkthrows", summary: "x", fields: {}, check: () => {
        throw new Error("check threw")
      }, compile: ok }),
      NodeKind.make({ name: "nopath", summary: "x", fields: {}, check: () => ({ message: "the node is wrong", fix: "fix it" }) as unknown as NodeKind.NodeProblem, compile: ok }),
      NodeKind.make({ name: "noeffect", summary: "x", fields: {}, compile: (() => ({ execute: () => Effect.succeed({ _tag: "Update", update: {} }) })) as never }),
      NodeKind.make({ name: "nocompile", summary: "x", fields: {} } as unknown as NodeKind.KindDefinition<Record<string, never>>),
      NodeKind.make({ name: "plainerror", summary: "x", fields: {}, compile: () => Effect.fail(new Error("compile broke")) as never }),
      NodeKind.make({ name: "noexecute", summary: "x", fields: {}, compile: () => Effect.succeed({}) as never })
    ]
    const expected: Record<string, { readonly path: string; readonly message: RegExp }> = {
      compilethrows: { path: "nodes[0].kind", message: /^node kind 'compilethrows' broke while compiling the node: Error: compile threw$/ },
      checkthrows: { path: "nodes[0].kind", message: /^node kind 'checkthrows' broke while checking the node: Error: check threw$/ },
      nopath: { path: "nodes[0]", message: /^the node is wrong$/ },
      noeffect: { path: "nodes[0].kind", message: /^node kind 'noeffect' returned no Effect from compile/ },
      nocompile: { path: "nodes[0].kind", message: /^node kind 'nocompile' has no compile function$/ },
      plainerror: { path: "nodes[0].kind", message: /^node kind 'plainerror' failed to compile the node: Error: compile broke$/ },
      noexecute: { path: "nodes[0].kind", message: /^node kind 'noexecute' compiled to no executor/ }
    }
    for (const [name, { message, path }] of Object.entries(expected)) {
      const error = await buildError(Graph.fromYaml(yaml(`
state_schema: { n: { type: int, default: 1 } }
nodes: [{ id: x, kind: ${name} }]
`)).pipe(Effect.provide(NodeKinds.layer(...half))))
      expect(error._tag, name).toBe("IRValidationError")
      expect(error, name).toMatchObject({ path })
      expect(error.message, name).toMatch(message)
    }
  })

  it("a fork of a run waiting in a parallel step where one kind was answered asks the one still waiting, as the parent does", async () => {
    const Ask = NodeKind.make({
      name: "askonce",
      summary: "Asks once, writes the answer to its field.",
      fields: { out: Schema.String },
      stops: "may-ask-for-input",
      compile: (node) =>
        Effect.succeed({
          execute: (_state, input) =>
            Effect.succeed(input.answers.length === 0
              ? { _tag: "Interrupt" as const, prompt: `${input.nodeId}?`, responseField: "", answered: 0 }
              : { _tag: "Update" as const, update: { [node.out]: String(input.answers[0]) } })
        })
    })
    const layer = sqlite()
    const graph = await Effect.runPromise(Graph.fromYaml(yaml(`
state_schema: { a: { type: str, default: "" }, b: { type: str, default: "" }, s: { type: str, default: "" } }
nodes:
  - { id: start, kind: set, values: { s: started } }
  - { id: x, kind: askonce, out: a }
  - { id: y, kind: askonce, out: b }
edges: [{ from: start, to: [x, y] }]
`)).pipe(Effect.provide(NodeKinds.layer(Ask))))
    const first = await run(runToEnd(graph), layer)
    expect(first.waiting?.prompt).toBe("x?")
    const second = await run(Effect.flatMap(graph.resume(first.run_id, { response: { value: "X" } }), (r) => r.start()), layer)
    expect(second).toMatchObject({ status: "awaiting-input", waiting: { prompt: "y?", others: { x: ["X"] } } })
    const fork = await run(Replay.fork(graph, first.run_id, {}), layer)
    expect(fork.summary).toMatchObject({ status: "awaiting-input", waiting: { prompt: "y?", others: { x: ["X"] } } })
    const done = await run(Effect.flatMap(graph.resume(fork.cfRunId, { response: { value: "Y" }, liveAfterFork: true }), (r) => r.start()), layer)
    expect(done).toMatchObject({ status: "done", final_state: { a: "X", b: "Y", s: "started" } })
  })

  it("a kind asking with a bad Interrupt (a wait that is no duration, on_timeout to no node, an undeclared field, a payload that is not JSON) fails its node", async () => {
    const asks = (name: string, extra: Record<string, unknown>) =>
      NodeKind.make({
        name,
        summary: "Asks badly.",
        fields: {},
        compile: () => Effect.succeed({ execute: () => Effect.succeed({ _tag: "Interrupt" as const, prompt: "?", responseField: "", answered: 0, ...extra }) })
      })
    const cyclic: Record<string, unknown> = {}
    cyclic["self"] = cyclic
    const cases: Record<string, [Record<string, unknown>, RegExp]> = {
      soon: [{ timeoutMs: "soon" }, /timeoutMs "soon", not a wait of 0 ms to a year/],
      huge: [{ timeoutMs: 1e20 }, /timeoutMs 100000000000000000000, not a wait/],
      nowhere: [{ timeoutMs: 1000, onTimeout: "goto:nowhere" }, /onTimeout "goto:nowhere": use "halt" or "goto:<node>"/],
      field: [{ responseField: "missing" }, /responseField 'missing', which the state schema does not declare/],
      big: [{ payload: { n: 10n } }, /a payload that is not JSON: payload\.n/],
      cycle: [{ payload: cyclic }, /a payload that is not JSON/]
    }
    const layer = sqlite()
    for (const [name, [extra, message]] of Object.entries(cases)) {
      const graph = await Effect.runPromise(Graph.fromYaml(yaml(`
state_schema: { n: { type: int, default: 1 } }
nodes: [{ id: x, kind: ${name} }]
`)).pipe(Effect.provide(NodeKinds.layer(asks(name, extra)))))
      const failed = await run(Effect.flatMap(graph.start({ inputs: {} }), (r) => Effect.either(r.start())), layer)
      expect(Either.isLeft(failed) && failed.left, name).toMatchObject({ _tag: "NodeExecutionError", nodeId: "x", step: 1 })
      expect(Either.isLeft(failed) && (failed.left as NodeExecutionError).cause, name).toMatch(message)
    }
    const runs = await run(Effect.flatMap(Checkpointer, (c) => c.listRuns({ limit: 50 })), layer)
    expect(runs.runs.map((r) => r.status)).toEqual(Object.keys(cases).map(() => "failed"))
  })

  it("a kind that asks twice gets both answers (answered: what it consumed), and an exact replay gives both back: an empty diff", async () => {
    const AskTwice = NodeKind.make({
      name: "asktwice",
      summary: "Asks two questions, then writes both answers.",
      fields: {},
      stops: "may-ask-for-input",
      compile: () =>
        Effect.succeed({
          execute: (_state, input) =>
            Effect.succeed(input.answers.length < 2
              ? { _tag: "Interrupt" as const, prompt: `question ${input.answers.length + 1}`, responseField: "", answered: input.answers.length }
              : { _tag: "Update" as const, update: { out: input.answers.join("+") } })
        })
    })
    const layer = sqlite()
    const graph = await Effect.runPromise(Graph.fromYaml(yaml(`
state_schema: { out: { type: str, default: "" } }
nodes: [{ id: x, kind: asktwice }]
`)).pipe(Effect.provide(NodeKinds.layer(AskTwice))))
    const first = await run(runToEnd(graph), layer)
    expect(first).toMatchObject({ status: "awaiting-input", waiting: { prompt: "question 1" } })
    const second = await run(Effect.flatMap(graph.resume(first.run_id, { response: { value: "A" } }), (r) => r.start()), layer)
    expect(second).toMatchObject({ status: "awaiting-input", waiting: { prompt: "question 2", answers: ["A"] } })
    const done = await run(Effect.flatMap(graph.resume(first.run_id, { response: { value: "B" } }), (r) => r.start()), layer)
    expect(done).toMatchObject({ status: "done", final_state: { out: "A+B" } })
    const fork = await run(Replay.fork(graph, first.run_id, {}), layer)
    expect(fork.summary).toMatchObject({ status: "done", final_state: { out: "A+B" } })
    expect(fork.diff).toEqual({ added_steps: [], removed_steps: [], state_deltas: {}, fact_deltas: {}, derived_hash: fork.derivedHash })
    const steps = await run(Effect.flatMap(Checkpointer, (c) => c.listCheckpoints(first.run_id)), layer)
    expect(steps[1]!.calls?.map((c) => [c.name, c.seq, c.response])).toEqual([["interrupt.response", 0, "A"], ["interrupt.response", 1, "B"]])
  })

  it("a kind that asks for input with an Interrupt outcome gets its answer again in an exact replay: an empty diff", async () => {
    const Ask = NodeKind.make({
      name: "ask",
      summary: "Asks for a name, then writes it.",
      fields: {},
      stops: "may-ask-for-input",
      compile: () =>
        Effect.succeed({
          execute: (_state, input) =>
            Effect.succeed(input.answers.length === 0
              ? { _tag: "Interrupt" as const, prompt: "Name?", responseField: "", answered: 0 }
              : { _tag: "Update" as const, update: { name: String(input.answers[0]) } })
        })
    })
    const layer = sqlite()
    const graph = await Effect.runPromise(Graph.fromYaml(yaml(`
state_schema: { name: { type: str, default: "" } }
nodes: [{ id: a, kind: ask }]
`)).pipe(Effect.provide(NodeKinds.layer(Ask))))
    const first = await run(runToEnd(graph), layer)
    expect(first).toMatchObject({ status: "awaiting-input", waiting: { node: "a", prompt: "Name?" } })
    const done = await run(Effect.flatMap(graph.resume(first.run_id, { response: { value: "ada" } }), (r) => r.start()), layer)
    expect(done).toMatchObject({ status: "done", final_state: { name: "ada" } })
    const fork = await run(Replay.fork(graph, first.run_id, {}), layer)
    expect(fork.summary).toMatchObject({ status: "done", final_state: { name: "ada" } })
    expect(fork.diff).toEqual({ added_steps: [], removed_steps: [], state_deltas: {}, fact_deltas: {}, derived_hash: fork.derivedHash })
  })
})

describe("interrupts", () => {
  const original = yaml(`
state_schema: { message: str, approval: { type: str, default: "" } }
nodes:
  - id: gate
    kind: interrupt
    config:
      prompt: "Approve the release?"
      interrupt_payload: { ticket: T-1 }
      requested_capability: release:approve
      response_field: approval
  - { id: done, kind: echo }
`)

  it("an interrupt node in the original's config form stops the run, and its answer lands in response_field", async () => {
    const layer = sqlite()
    const graph = await Effect.runPromise(Graph.fromYaml(original))
    const first = await run(runToEnd(graph, { message: "v2" }), layer)
    expect(first.status).toBe("awaiting-input")
    expect(first.waiting).toMatchObject({ node: "gate", prompt: "Approve the release?", payload: { ticket: "T-1" }, requested_capability: "release:approve", response_field: "approval", step: 1 })
    const second = await run(Effect.flatMap(graph.resume(first.run_id, { response: { value: "yes" } }), (r) => r.start()), layer)
    expect(second).toMatchObject({ status: "done", final_state: { message: "v2", approval: "yes" } })
  })

  it("refuses an interrupt configured twice or without a prompt, an on_timeout to an unknown node, and an on_timeout without a timeout", async () => {
    const twice = await buildError(Graph.fromYaml(yaml(`
state_schema: { a: str }
nodes: [{ id: g, kind: interrupt, prompt: x, config: { prompt: y } }]
`)))
    expect(twice).toMatchObject({ path: "nodes[0].config", message: "the interrupt is configured twice (on the node and under config)" })
    const none = await buildError(Graph.fromYaml(yaml(`
state_schema: { a: str }
nodes: [{ id: g, kind: interrupt, response_field: a }]
`)))
    expect(none).toMatchObject({ path: "nodes[0].prompt", message: "an interrupt needs a prompt" })
    const target = await buildError(Graph.fromYaml(yaml(`
state_schema: { a: str }
nodes: [{ id: g, kind: interrupt, config: { prompt: x, timeout: 60, on_timeout: "goto:nowhere" } }]
`)))
    expect(target).toMatchObject({ path: "nodes[0].config.on_timeout", message: "on_timeout goes to unknown node 'nowhere'" })
    const idle = await buildError(Graph.fromYaml(yaml(`
state_schema: { a: str }
nodes: [{ id: g, kind: interrupt, prompt: x, on_timeout: "goto:g" }]
`)))
    expect(idle).toMatchObject({ path: "nodes[0].on_timeout", message: "on_timeout has no effect without a timeout" })
  })

  it("takes the original's interrupt forms: timeout null, on_timeout halt alone, a timedelta's HH:MM:SS", async () => {
    const requestOf = async (config: string) => {
      const graph = await Effect.runPromise(Graph.fromYaml(yaml(`
state_schema: { a: str }
nodes: [{ id: g, kind: interrupt, config: ${config} }]
`)))
      return graph.nodes.get("g")?.waitsForInput
    }
    expect(await requestOf(`{ prompt: x, timeout: null, on_timeout: halt }`)).toMatchObject({ prompt: "x", timeoutMs: undefined })
    expect(await requestOf(`{ prompt: x, on_timeout: halt }`)).toMatchObject({ timeoutMs: undefined, onTimeout: "halt" })
    expect(await requestOf(`{ prompt: x, timeout: "00:15:00" }`)).toMatchObject({ timeoutMs: 15 * 60_000 })
    expect(await requestOf(`{ prompt: x, timeout: "1 day, 2:00:30.5" }`)).toMatchObject({ timeoutMs: (26 * 3600 + 30.5) * 1000 })
    const bad = await buildError(Graph.fromYaml(yaml(`
state_schema: { a: str }
nodes: [{ id: g, kind: interrupt, config: { prompt: x, timeout: "00:61:00" } }]
`)))
    expect(bad).toMatchObject({ path: "nodes[0].config.timeout", message: "timeout '00:61:00' is not a duration" })
  })

  it("a function node asks with ctx.interrupt: the step is not committed; on resume it runs again and gets the answers in order; forks replay them", async () => {
    const calls = { ask: 0 }
    const ask: NodeFunction = async (state, ctx) => {
      calls.ask++
      const name = await ctx.interrupt("Who is deploying?", { payload: { env: state["env"] } })
      const ok = await ctx.interrupt(`Confirm deploy by ${String(name)}?`)
      return { deployer: name, confirmed: ok }
    }
    const ir = {
      ir_version: "1.0.0",
      id: "run:ask",
      state_schema: { env: "str", deployer: { type: "str", default: "" }, confirmed: { type: "bool", default: false } },
      nodes: [{ id: "ask", kind: "function", module: "m", export: "ask" }]
    }
    const layer = sqlite()
    const graph = await Effect.runPromise(Graph.make(ir, { modules: { m: { ask } } }))
    const first = await run(runToEnd(graph, { env: "prod" }), layer)
    expect(first).toMatchObject({ status: "awaiting-input", steps: 0, waiting: { node: "ask", prompt: "Who is deploying?", payload: { env: "prod" }, step: 1 } })
    const second = await run(Effect.flatMap(graph.resume(first.run_id, { response: { value: "ada" } }), (r) => r.start()), layer)
    expect(second).toMatchObject({ status: "awaiting-input", steps: 0, waiting: { node: "ask", prompt: "Confirm deploy by ada?", answers: ["ada"] } })
    const third = await run(Effect.flatMap(graph.resume(first.run_id, { response: { value: true } }), (r) => r.start()), layer)
    expect(third).toMatchObject({ status: "done", steps: 1, final_state: { env: "prod", deployer: "ada", confirmed: true } })
    expect(calls.ask).toBe(3)
    // The answers are in the step's cassette: a fork replays them without waiting.
    const fork = await run(Replay.fork(graph, first.run_id, {}), layer)
    expect(fork.summary).toMatchObject({ status: "done", final_state: third.final_state })
    expect(calls.ask).toBe(4)
    // The answer is evidence for the rules, in the run and in its replay alike: an empty diff.
    expect(fork.diff).toEqual({ added_steps: [], removed_steps: [], state_deltas: {}, fact_deltas: {}, derived_hash: fork.derivedHash })
    const steps = await run(Effect.flatMap(Checkpointer, (c) => c.listCheckpoints(first.run_id)), layer)
    expect(steps[1]!.calls?.at(-1)).toMatchObject({ node: "ask", name: "interrupt.response", response: true })
    expect(JSON.stringify(steps[1]!.facts)).toContain("stargraph.evidence")
  })

  it("a node beside one that asks (a fan-out) keeps its write with the wait: on resume it is not run again, its side effects happen once, its calls stay in the step's cassette", async () => {
    const { charged, charge, asked, ask } = chargeAndAsk()
    const graph = await Effect.runPromise(Graph.make({
      ir_version: "1.0.0",
      id: "run:sibling",
      state_schema: { fields: { a: { type: "string", default: "" }, log: { type: "array", items: { type: "string" }, default: [], reducer: "append" } } },
      nodes: [{ id: "start", kind: "noop" }, { id: "charge", kind: "function", module: "m", export: "charge" }, { id: "ask", kind: "function", module: "m", export: "ask" }],
      edges: [{ from: "start", to: ["charge", "ask"] }]
    }, { modules: { m: { charge, ask } } }))
    const layer = sqlite()
    const first = await run(runToEnd(graph), layer)
    expect(first.status).toBe("awaiting-input")
    const stored = await run(Effect.flatMap(Checkpointer, (c) => c.getRun(first.run_id)), layer)
    expect(Option.getOrUndefined(stored)?.waiting?.attempt?.writes).toEqual([{ node: "charge", update: { log: ["receipt-1"] } }])
    // Asked twice: the kept write is kept again with the second wait.
    const second = await run(Effect.flatMap(graph.resume(first.run_id, { response: { value: "yes" } }), (r) => r.start()), layer)
    expect(second).toMatchObject({ status: "awaiting-input", waiting: { prompt: "sure about yes?" } })
    const done = await run(Effect.flatMap(graph.resume(first.run_id, { response: { value: "really" } }), (r) => r.start()), layer)
    expect(done).toMatchObject({ status: "done", final_state: { a: "yes/really" } })
    expect([...(done.final_state["log"] as Array<string>)].sort()).toEqual(["asked", "receipt-1"])
    // The asking node ran three times; the sibling once, its direct side effect included.
    expect([asked.runs, charged.runs, charged.direct, charged.live]).toEqual([3, 1, 1, 1])
    const steps = await run(Effect.flatMap(Checkpointer, (c) => c.listCheckpoints(first.run_id)), layer)
    expect(steps[2]!.calls?.filter((c) => c.node === "charge")).toMatchObject([{ name: "payments.charge", response: "receipt-1" }])
    // A replay runs the step's nodes (node bodies run in a replay), the charge answered from the cassette.
    const fork = await run(Replay.fork(graph, first.run_id, {}), layer)
    expect(fork.summary).toMatchObject({ status: "done", final_state: done.final_state })
    expect([charged.runs, charged.live]).toEqual([2, 1])
  })

  it("a fork that asks beside a finished sibling past its parent's recording keeps the sibling's write and calls with the wait, as a run does: on resume the sibling is not run again; a replay of the fork is exact", async () => {
    const { charged, charge, asked, ask } = chargeAndAsk()
    const decide: NodeFunction = () => ({ go: false })
    // The parent decides not to go and ends after its first step; a fork that goes fans out
    // at step 3, past the parent's recording (its charge is live: live_after_fork).
    const graph = await Effect.runPromise(Graph.make({
      ir_version: "1.0.0",
      id: "run:fork-sibling",
      state_schema: {
        fields: { go: { type: "boolean", default: false }, a: { type: "string", default: "" }, log: { type: "array", items: { type: "string" }, default: [], reducer: "append" } }
      },
      nodes: [
        { id: "start", kind: "function", module: "m", export: "decide" },
        { id: "fan", kind: "noop" },
        { id: "charge", kind: "function", module: "m", export: "charge" },
        { id: "ask", kind: "function", module: "m", export: "ask" }
      ],
      edges: [{ from: "start", cases: [{ when: { field: "go", op: "truthy" }, to: "fan" }] }, { from: "fan", to: ["charge", "ask"] }]
    }, { modules: { m: { decide, charge, ask } } }))
    const layer = sqlite()
    const parent = await run(runToEnd(graph), layer)
    expect(parent).toMatchObject({ status: "done", steps: 1 })
    const forked = await run(Replay.fork(graph, parent.run_id, { mutation: { node_output_overrides: { start: { go: true } } }, liveAfterFork: true }), layer)
    expect(forked.summary).toMatchObject({ status: "awaiting-input", waiting: { prompt: "ok?", step: 3 } })
    const stored = await run(Effect.flatMap(Checkpointer, (c) => c.getRun(forked.cfRunId)), layer)
    expect(Option.getOrUndefined(stored)?.waiting?.attempt?.writes).toEqual([{ node: "charge", update: { log: ["receipt-1"] } }])
    // Asked twice: the kept write is kept again with the second wait.
    const second = await run(Effect.flatMap(graph.resume(forked.cfRunId, { response: { value: "yes" } }), (r) => r.start()), layer)
    expect(second).toMatchObject({ status: "awaiting-input", waiting: { prompt: "sure about yes?" } })
    const done = await run(Effect.flatMap(graph.resume(forked.cfRunId, { response: { value: "really" } }), (r) => r.start()), layer)
    expect(done).toMatchObject({ status: "done", final_state: { go: true, a: "yes/really" } })
    expect([...(done.final_state["log"] as Array<string>)].sort()).toEqual(["asked", "receipt-1"])
    // The asking node ran three times; the sibling once, its direct side effect and its live call included.
    expect([asked.runs, charged.runs, charged.direct, charged.live]).toEqual([3, 1, 1, 1])
    const steps = await run(Effect.flatMap(Checkpointer, (c) => c.listCheckpoints(forked.cfRunId)), layer)
    expect(steps.at(-1)!.step).toBe(3)
    expect(steps.at(-1)!.calls?.filter((c) => c.node === "charge")).toMatchObject([{ name: "payments.charge", response: "receipt-1" }])
    // A replay of the fork (an exact one: no mutation, no live calls) runs the step's nodes,
    // the charge and both answers from the fork's cassette, and ends as the fork did.
    const replayed = await run(Replay.fork(graph, forked.cfRunId, {}), layer)
    expect(replayed.error).toBeUndefined()
    expect(replayed.summary).toMatchObject({ status: "done", final_state: done.final_state })
    expect(replayed.diff).toMatchObject({ added_steps: [], removed_steps: [], state_deltas: {} })
    expect([asked.runs, charged.runs, charged.live]).toEqual([4, 2, 1])
  })
})

class Greeting extends Context.Tag("test/Greeting")<Greeting, { readonly word: string }>() {}
class Refused extends Schema.TaggedError<Refused>()("Refused", { reason: Schema.String }) {}

describe("node functions in Effect apps", () => {
  const ir = (exportName: string) => ({
    ir_version: "1.0.0",
    id: "run:app",
    state_schema: { name: "str", message: { type: "str", default: "" } },
    nodes: [{ id: "greet", kind: "function", module: "m", export: exportName }]
  })
  const greet: NodeFunction<never, Greeting> = (state) => Effect.map(Greeting, (g) => ({ message: `${g.word} ${String(state["name"])}` }))
  const refuse: NodeFunction<Refused> = () => Effect.fail(new Refused({ reason: "not today" }))
  // Typed with its own error only, though ctx.randomEffect and ctx.nowEffect may fail with a NodeContextError (tsc checks this line).
  const lucky: NodeFunction<Refused> = (_state, ctx) =>
    Effect.flatMap(Effect.zip(ctx.randomEffect, ctx.nowEffect), ([r, t]) => (r > 1 || t < 0 ? Effect.fail(new Refused({ reason: "unlucky" })) : Effect.succeed({ message: "lucky" })))

  it("a node's Effect gets the services the app provides where it runs the graph", async () => {
    const graph = await Effect.runPromise(Graph.make(ir("greet"), { modules: { m: { greet } } }))
    // The graph's type carries what its modules need: Graph<Greeting>; plain functions and
    // modules of unknown types need nothing the type can tell.
    expectTypeOf(graph).toEqualTypeOf<Graph.Graph<Greeting>>()
    expectTypeOf(Graph.make(ir("greet"), { modules: { m: { plain: () => ({ message: "" }) } } })).toEqualTypeOf<Effect.Effect<Graph.Graph, Graph.GraphError>>()
    expectTypeOf(Graph.make(ir("greet"))).toEqualTypeOf<Effect.Effect<Graph.Graph, Graph.GraphError>>()
    expectTypeOf(Graph.make(ir("greet"), { modules: {} as Graph.GivenModules })).toEqualTypeOf<Effect.Effect<Graph.Graph, Graph.GraphError>>()
    const summary = await run(runToEnd(graph, { name: "ada" }).pipe(Effect.provideService(Greeting, { word: "hi" })))
    expect(summary.final_state["message"]).toBe("hi ada")
    // Left out, tsc refuses the program (this line is checked by tsc)…
    // @ts-expect-error Greeting is not provided
    void (() => run(runToEnd(graph, { name: "ada" })))
    // …and at run time (a graph whose modules are loaded from files is a Graph<never>):
    // a NodeExecutionError that names the missing service.
    const missing = await run(Effect.flip(runToEnd(graph as Graph.Graph, { name: "ada" })))
    expect(missing._tag).toBe("NodeExecutionError")
    expect((missing as { cause: string }).cause).toMatch(/test\/Greeting/)
  })

  it("a NodeFunction<MyError> may use ctx.randomEffect and ctx.nowEffect without declaring their errors", async () => {
    const graph = await Effect.runPromise(Graph.make(ir("lucky"), { modules: { m: { lucky } } }))
    expect((await run(runToEnd(graph, { name: "ada" }))).final_state["message"]).toBe("lucky")
  })

  it("a node's own typed error is kept as the NodeExecutionError's error (and its tag persisted)", async () => {
    const graph = await Effect.runPromise(Graph.make(ir("refuse"), { modules: { m: { refuse } } }))
    const layer = sqlite()
    const error = await run(Effect.flip(runToEnd(graph, { name: "ada" })), layer)
    expect(error._tag).toBe("NodeExecutionError")
    if (error._tag !== "NodeExecutionError") return
    expect(Predicate.isTagged(error.error, "Refused")).toBe(true)
    expect(error.error).toBeInstanceOf(Refused)
    expect(error.errorTag).toBe("Refused")
    const caught = await run(runToEnd(graph, { name: "ada" }).pipe(
      Effect.catchTag("NodeExecutionError", (e) => Effect.succeed(e.error instanceof Refused ? `refused: ${e.error.reason}` : "other"))
    ))
    expect(caught).toBe("refused: not today")
    // Typed, by class or from a copy of the class (a bundled node module's own instance).
    expect(Option.map(nodeErrorAs(error, Refused), (e) => [e instanceof Refused, e.reason])).toEqual(Option.some([true, "not today"]))
    const copy = new NodeExecutionError({ nodeId: "n", step: 1, attempts: 1, cause: "x", error: { _tag: "Refused", reason: "copied" } })
    expect(Option.map(nodeErrorAs(copy, Refused), (e) => [e instanceof Refused, e.reason])).toEqual(Option.some([true, "copied"]))
    const other = new NodeExecutionError({ nodeId: "n", step: 1, attempts: 1, cause: "x", error: { _tag: "Other", reason: "no" } })
    expect(Option.isNone(nodeErrorAs(other, Refused))).toBe(true)
  })

  it("a node that fails with no error value (undefined), or one JSON cannot print, gets a NodeExecutionError saying what it failed with", async () => {
    const circular: Record<string, unknown> = {}
    circular["self"] = circular
    const bodies: Record<string, [NodeFunction, RegExp]> = {
      rejectsEmpty: [() => Promise.reject(), /^the node failed with undefined \(no error value\)/],
      throwsUndefined: [() => { throw undefined }, /^the node failed with undefined \(no error value\)/],
      failsUndefined: [() => Effect.fail(undefined), /^the node failed with undefined \(no error value\)/],
      throwsNull: [() => { throw null }, /^null$/],
      throwsBigint: [() => { throw 10n }, /^10n?$/],
      throwsSymbol: [() => { throw Symbol("gone") }, /Symbol\(gone\)/],
      throwsFunction: [() => { throw function later() {} }, /function later/],
      throwsCircular: [() => { throw circular }, /\[object Object\]|circular/i]
    }
    const layer = sqlite()
    for (const [name, [body, cause]] of Object.entries(bodies)) {
      const graph = await Effect.runPromise(Graph.make(ir(name), { modules: { m: { [name]: body } } }))
      const error = await run(Effect.flip(runToEnd(graph, { name: "ada" })), layer)
      expect(error, name).toBeInstanceOf(NodeExecutionError)
      if (!(error instanceof NodeExecutionError)) continue
      expect(error.errorTag, name).toBeUndefined()
      expect(error.cause, name).toMatch(cause)
      expect(error.message, name).toMatch(/^node 'greet' failed at step 1: /)
    }
  })
})
