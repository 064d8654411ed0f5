import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import { describe, expect, it } from "vitest"
import * as YAML from "yaml"
import { IRValidationError } from "../../src/errors.js"
import * as Graph from "../../src/graph/Graph.js"
import { isAuthoring, lowerAuthoring } from "../../src/ir/authoring.js"
import { isGraphText } from "../../src/ir/parse.js"

const loop = `id: research-bot
state:
  question: str
  answer: str
  rationale: str
  rounds: {type: int, default: 3}
  tags: list
  score: float
  verdict: {type: str, route: true}
nodes:
  work: {kind: passthrough}
  judge: {kind: judge, input: answer, rubric: "Complete.", stub: true}
routes:
  judge: {fail: work, pass: done}
`

const build = (text: string, file = "research-bot.yaml") => Effect.runSync(Effect.either(Graph.fromYaml(text, { file })))

const errorOf = (text: string, file?: string): IRValidationError => {
  const result = build(text, file)
  if (Either.isRight(result)) throw new Error("expected an IR error")
  expect(result.left).toBeInstanceOf(IRValidationError)
  return result.left as IRValidationError
}

const lower = (text: string) => {
  const doc: unknown = YAML.parse(text)
  if (!isAuthoring(doc)) throw new Error("not an authoring document")
  return Either.getOrThrow(lowerAuthoring(doc, "authored")).document
}

describe("the authoring format (no ir_version)", () => {
  it("lowers to the IR forms the decoder reads: a flat state_schema mirroring the routed fields, nodes in declaration order, when-mapping rules", () => {
    expect(lower(loop)).toEqual({
      ir_version: "1.0.0",
      id: "graph:research-bot",
      state_schema: {
        question: { type: "str", default: "", mirror: false },
        answer: { type: "str", default: "", mirror: false },
        rationale: { type: "str", default: "", mirror: false },
        rounds: { type: "int", default: 3, mirror: false },
        tags: { type: "list", default: [], mirror: false },
        score: { type: "float", default: 0, mirror: false },
        verdict: { type: "str", default: "", mirror: true }
      },
      nodes: [
        { id: "work", kind: "passthrough" },
        { id: "judge", kind: "judge", config: { input: "answer", rubric: "Complete.", stub: true } }
      ],
      rules: [
        { id: "r-judge-fail", when: { node: "judge", verdict: "fail" }, then: [{ kind: "goto", target: "work" }] },
        { id: "r-judge-pass", when: { node: "judge", verdict: "pass" }, then: [{ kind: "halt", reason: "judge: verdict pass" }] }
      ]
    })
  })

  it("a plain route is a goto (or a halt for done); bare tool ids get @1; spec stays on a subgraph or map; the id defaults to the file's name", () => {
    const doc = lower(`nodes:
  a: {kind: tool, tool: std.calculator, args: {expression: "1+1"}}
  b: {kind: subgraph, spec: ./child.yaml, inputs: {x: y}}
  m: {kind: map, spec: ./one.yaml, over: xs, item: x, result: y, output: ys}
  c: {kind: agent, tools: [std.web_search, custom.thing@2]}
routes:
  a: c
  c: done
`)
    expect(doc["id"]).toBe("graph:authored")
    expect(doc["nodes"]).toEqual([
      { id: "a", kind: "tool", config: { tool: "std.calculator@1", args: { expression: "1+1" } } },
      { id: "b", kind: "subgraph", spec: "./child.yaml", config: { inputs: { x: "y" } } },
      { id: "m", kind: "map", spec: "./one.yaml", config: { over: "xs", item: "x", result: "y", output: "ys" } },
      { id: "c", kind: "agent", config: { tools: ["std.web_search@1", "custom.thing@2"] } }
    ])
    expect(doc["rules"]).toEqual([
      { id: "r-a", when: { node: "a" }, then: [{ kind: "goto", target: "c" }] },
      { id: "r-c", when: { node: "c" }, then: [{ kind: "halt", reason: "c complete" }] }
    ])
    expect(build("nodes:\n  a: {kind: noop}\n", "/x/my-graph.yml").pipe(Either.map((g) => g.id))).toEqual(Either.right("graph:my-graph"))
  })

  it("builds as a graph: zero defaults, the routed field mirrored, a hash that is stable and the same as the lowered IR's", () => {
    const graph = Either.getOrThrow(build(loop))
    expect(graph.id).toBe("graph:research-bot")
    expect(graph.state.fields.get("verdict")?.mirror).toBe(true)
    expect(graph.state.fields.get("question")?.mirror).toBe(false)
    expect(Either.getOrThrow(build(loop)).graphHash).toBe(graph.graphHash)
    const asIR = Either.getOrThrow(build(YAML.stringify(lower(loop))))
    expect(asIR.graphHash).toBe(graph.graphHash)
    // A different route is a different graph.
    expect(Either.getOrThrow(build(loop.replace("fail: work", "fail: judge"))).graphHash).not.toBe(graph.graphHash)
  })

  it("an lm block names a server on this machine as the graph's default model, outside the graph hash", () => {
    const graph = Either.getOrThrow(build(loop + "lm: {provider: sglang, model: microsoft/phi-4, port: 41002, startup_timeout_s: 600}\n"))
    expect(graph.lm).toEqual({ apiBase: "http://127.0.0.1:41002/v1", model: "microsoft/phi-4" })
    expect(Either.getOrThrow(build(loop + "lm: {model: m, host: localhost}\n")).lm).toEqual({ apiBase: "http://localhost:30000/v1", model: "m" })
    const without = Either.getOrThrow(build(loop))
    expect(without.lm).toBeUndefined()
    expect(graph.graphHash).toBe(without.graphHash)
    expect(Either.getOrThrow(build(loop + "lm: null\n")).graphHash).toBe(without.graphHash)
    // Graph.make with the document as an object reads it too.
    const made = Effect.runSync(Graph.make(YAML.parse(loop + "lm: {model: m, port: 8000}\n"), { file: "research-bot.yaml" }))
    expect([made.lm, made.graphHash]).toEqual([{ apiBase: "http://127.0.0.1:8000/v1", model: "m" }, without.graphHash])
  })

  it("a key the node's kind takes beside config (set's values) is moved there, in the IR that is hashed", () => {
    const graph = Either.getOrThrow(build("state:\n  greeting: str\nnodes:\n  greet: {kind: set, values: {greeting: hi}}\n"))
    expect(graph.ir.nodes).toEqual([{ id: "greet", kind: "set", values: { greeting: "hi" } }])
    const ir = Either.getOrThrow(build("ir_version: \"1.0.0\"\nid: graph:research-bot\nstate_schema: {greeting: {type: str, default: \"\", mirror: false}}\nnodes:\n  - {id: greet, kind: set, values: {greeting: hi}}\n"))
    expect(ir.graphHash).toBe(graph.graphHash)
    // In an IR document, config stays where it is written (and is refused for a set node).
    expect(errorOf("ir_version: \"1.0.0\"\nid: x\nstate_schema: {greeting: str}\nnodes:\n  - {id: greet, kind: set, config: {values: {greeting: hi}}}\n").path).toBe("nodes[0].config")
  })

  it.each([
    ["an unknown top-level key", loop + "staet: {}\n", "staet", /unknown top-level key 'staet'/, /did you mean 'state'\?/],
    ["an id that is not a name", loop.replace("id: research-bot", "id: Bad Id"), "id", /graph id "Bad Id"/, /set id: my-graph/],
    ["empty nodes", "state: {q: str}\nnodes: {}\n", "nodes", /non-empty mapping/, /nodes: \{greet/],
    ["a node without kind", "nodes:\n  n: {template: x}\n", "nodes.n", /node 'n' is missing its kind/, /add kind:/],
    ["a node that is not a mapping", "nodes:\n  n: echo\n", "nodes.n", /must be a mapping with a kind/, /n: \{kind: echo\}/],
    ["a node name starting with a digit", "nodes:\n  2fetch: {kind: noop}\n", "nodes.2fetch", /node name '2fetch' must be lowercase letters, digits, '_', '.' or '-', starting with a letter$/, /e\.g\. n2fetch/],
    ["a state field named __proto__", "state:\n  __proto__: str\n  message: str\nnodes:\n  n: {kind: noop}\n", "state.__proto__", /cannot be named '__proto__'/, /rename the field/],
    ["a null verdict key", loop.replace("judge: {fail: work, pass: done}", "judge: {fail: work, ~: done}"), "routes.judge", /maps an empty verdict value \(a null key, ~, reads as one\)/, /judge: \{pass: done, fail: next-node\}/],
    ["a node named done", "nodes:\n  done: {kind: noop}\n", "nodes.done", /cannot be named 'done'/, /rename the node/],
    ["an unknown state type", "state:\n  x: complex\nnodes:\n  n: {kind: noop}\n", "state.x", /unsupported type "complex"/, /use one of: str, int, float, bool, list, dict/],
    ["a misspelt state type in the mapping form", "state:\n  x: {type: strr}\nnodes:\n  n: {kind: noop}\n", "state.x.type", /unsupported type "strr"/, /did you mean 'str'\?/],
    ["an unknown key of a state field", "state:\n  x: {type: str, rout: true}\nnodes:\n  n: {kind: noop}\n", "state.x.rout", /unknown key 'rout'/, /did you mean 'route'\?/],
    ["a route from an undeclared node", loop + "  ghost: done\n", "routes.ghost", /route source 'ghost' is not a declared node/, /route from one of: work, judge/],
    ["a route to an unknown node", loop.replace("fail: work", "fail: wrok"), "routes.judge.fail", /targets unknown node 'wrok'/, /did you mean 'work'\?/],
    ["spec on a kind other than subgraph", "nodes:\n  n: {kind: echo, spec: x.yaml}\n", "nodes.n.spec", /only valid on kind: subgraph/, /set kind: subgraph/],
    ["a value route without a routed verdict", loop.replace("verdict: {type: str, route: true}", "verdict: str"), "routes.judge", /routed `verdict` field \(it has no route: true\)/, /verdict: \{type: str, route: true\}/],
    ["a value route without any verdict", loop.replace("  verdict: {type: str, route: true}\n", ""), "routes.judge", /routed `verdict` field$/, /verdict: \{type: str, route: true\}/],
    ["a route that is neither a target nor a mapping", loop.replace("judge: {fail: work, pass: done}", "judge: [work]"), "routes.judge", /is a list/, /judge: next-node/],
    ["an lm block that is not a mapping", loop + "lm: sglang\n", "lm", /lm is a string/, /lm: \{model: <model>, port: 30000\}/],
    ["an lm block without a model", loop + "lm: {provider: sglang}\n", "lm", /lm needs the model/, /add model:/],
    ["an unknown lm key", loop + "lm: {model: m, prot: 41002}\n", "lm.prot", /unknown key 'prot' in lm/, /did you mean 'port'\?/],
    ["another lm provider", loop + "lm: {provider: vllm, model: m}\n", "lm.provider", /provider "vllm"/, /--lm-url <base url>/],
    ["an lm port that is not a number", loop + "lm: {model: m, port: http}\n", "lm.port", /port "http" is not a port number/, /1 to 65535/],
    ["an lm host elsewhere", loop + "lm: {model: m, host: 10.0.0.5}\n", "lm.host", /host "10\.0\.0\.5" is not this machine/, /--lm-url http:\/\/<host>:<port>\/v1/],
    ["lm args", loop + "lm: {model: m, args: [--attention-backend, triton]}\n", "lm.args", /this runtime launches no model server/, /start the server yourself/]
  ])("%s is an IRValidationError at the key, with the fix", (_, text, path, message, fix) => {
    const e = errorOf(text)
    expect(e.path).toBe(path)
    expect(e.message).toMatch(/^authoring: /)
    expect(e.message).toMatch(message)
    expect(e.fix).toMatch(fix)
  })

  it("an error the kinds or the rule compiler find is named at the key written, with its line", () => {
    const template = errorOf(loop.replace("work: {kind: passthrough}", "work:\n    kind: template\n    template: \"{question} {missing}\"\n    out: answer"))
    expect([template.path, template.line, template.message]).toEqual(["nodes.work.template", 13, "the template reads undeclared state field 'missing'"])
    const kind = errorOf(loop.replace("kind: passthrough", "kind: pasthrough"))
    expect([kind.path, kind.line]).toEqual(["nodes.work.kind", 11])
    expect(kind.fix).toMatch(/did you mean .passthrough.\?/)
    // A verdict of another type than the values routed: the rule's error is at the route.
    const typed = errorOf(loop.replace("verdict: {type: str, route: true}", "verdict: {type: int, route: true}").replace(/judge: \{kind: judge.*\}/, "judge: {kind: noop}"))
    expect([typed.path, typed.line]).toEqual(["routes.judge.fail", 14])
    // A kind's own check is named at the authoring key (the broker kind needs its config).
    const broker = errorOf(loop.replace("work: {kind: passthrough}", "work: {kind: broker}"))
    expect([broker.path, broker.message]).toEqual(["nodes.work", "a broker node needs config"])
  })

  it("a bad state default is named at state.<field>.default; a .json file's default id is its stem; __proto__ in an IR document is refused, not dropped", () => {
    const bad = errorOf("state:\n  x: {type: int, default: a}\nnodes:\n  n: {kind: noop}\n")
    expect([bad.path, bad.line]).toEqual(["state.x.default", 2])
    expect(bad.message).toMatch(/^default does not match type/)
    const json = build("{\"nodes\": {\"n\": {\"kind\": \"noop\"}}}\n", "graphs/my-graph.json")
    expect(Either.isRight(json) && json.right.id).toBe("graph:my-graph")
    const proto = errorOf("ir_version: \"1.0.0\"\nid: g\nstate_schema: {fields: {__proto__: {type: string}, m: {type: string}}}\nnodes: [{id: a, kind: noop}]\n")
    expect([proto.path, proto.message]).toEqual(["state_schema.fields.__proto__", "a key named '__proto__' is not allowed: it names an object's prototype in JavaScript, and would be dropped"])
  })

  it("an authored react node with bare tool ids builds: the ids get @1, as the original's research-bot writes them", () => {
    const text = loop.replace("work: {kind: passthrough}", "work: {kind: react, input: question, tools: [std.web_search, std.fetch_page], stub: true}")
    const nodes = (lower(text) as { nodes: ReadonlyArray<{ id: string; config?: { tools?: unknown } }> }).nodes
    expect(nodes.find((n) => n.id === "work")?.config?.tools).toEqual(["std.web_search@1", "std.fetch_page@1"])
    expect(Either.isRight(build(text))).toBe(true)
  })

  it("isGraphText finds authoring graphs beside IR ones, and skips other YAML", () => {
    expect(isGraphText(loop)).toBe(true)
    expect(isGraphText("ir_version: \"1.0.0\"\n")).toBe(true)
    expect(isGraphText("triggers:\n  - {kind: cron}\n")).toBe(false)
    expect(isGraphText("nodes:\n  - {id: a, kind: noop}\n")).toBe(false)
    expect(isGraphText("state: [\n")).toBe(false)
    // A settings file with a top-level state: or routes: is not a graph (the original asks for nodes).
    expect(isGraphText("state: enabled\nretries: 3\n")).toBe(false)
    expect(isGraphText("routes:\n  a: b\n")).toBe(false)
    expect(isGraphText("nodes:\n  a: {kind: noop}\nretries: 3\n")).toBe(true)
    // Given as the graph to load, such a file still gets the authoring errors.
    expect(errorOf("state: enabled\nretries: 3\n")).toMatchObject({ path: "retries", message: "authoring: unknown top-level key 'retries'" })
    expect(errorOf("state: {q: str}\nnodes:\n").message).toMatch(/^authoring: nodes must be a non-empty mapping/)
  })
})
