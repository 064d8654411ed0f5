/**
 * The `tool` kind, the tool registry, the built-in `std.*` tools and capabilities: every
 * std tool's behaviour and errors, user tools from a Layer and from a module, build-time
 * and run-time argument checks, http_fetch refused and allowed against a local server,
 * and a SQLite run replayed and forked without running a tool again.
 */
import { mkdirSync, symlinkSync, writeFileSync } from "node:fs"
import { createServer, type Server } from "node:http"
import type { AddressInfo } from "node:net"
import { join } from "node:path"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { Checkpointer } from "../../src/checkpoint/Checkpointer.js"
import * as MemoryCheckpointer from "../../src/checkpoint/MemoryCheckpointer.js"
import * as SqliteCheckpointer from "../../src/checkpoint/SqliteCheckpointer.js"
import { IRValidationError, type StargraphError, StargraphRuntimeError, type ToolError } from "../../src/errors.js"
import * as Graph from "../../src/graph/Graph.js"
import * as Replay from "../../src/replay/Replay.js"
import { requestHash } from "../../src/runtime/Cassette.js"
import * as Capabilities from "../../src/nodes/tools/Capabilities.js"
import { calculator, evaluate } from "../../src/nodes/tools/std/calculator.js"
import { httpFetch } from "../../src/nodes/tools/std/httpFetch.js"
import { jsonPath } from "../../src/nodes/tools/std/jsonPath.js"
import { regexExtract } from "../../src/nodes/tools/std/regexExtract.js"
import { templateRender } from "../../src/nodes/tools/std/templateRender.js"
import * as Tool from "../../src/nodes/tools/Tool.js"
import * as ToolRegistry from "../../src/nodes/tools/ToolRegistry.js"
import { ROOT, tempDir } from "../helpers/cli.js"

/** Run a tool's `run` on `input` (as the node would after decoding), with `grants`. */
const call = (tool: Tool.Tool, input: unknown, grants: ReadonlyArray<string> = []) =>
  Effect.runPromise(Effect.either(tool.run(input)).pipe(Effect.provide(Capabilities.layer(grants))))

const ok = async (tool: Tool.Tool, input: unknown, grants: ReadonlyArray<string> = []) => {
  const r = await call(tool, input, grants)
  if (Either.isLeft(r)) throw new Error(`expected success, got ${r.left.message}`)
  return r.right as Record<string, any>
}

const err = async (tool: Tool.Tool, input: unknown, grants: ReadonlyArray<string> = []): Promise<ToolError> => {
  const r = await call(tool, input, grants)
  if (Either.isRight(r)) throw new Error(`expected a ToolError, got ${JSON.stringify(r.right)}`)
  return r.left
}

const value = (expression: string) => Either.getOrThrowWith(evaluate(expression), (p) => new Error(p.message))
const problem = (expression: string) => Either.match(evaluate(expression), { onLeft: (p) => p.message, onRight: (v) => `no problem: ${v}` })

/** A graph IR with `nodes` in a chain over `fields`. */
const graphIr = (fields: Record<string, unknown>, nodes: ReadonlyArray<Record<string, unknown>>) => ({
  ir_version: "1.0.0",
  id: "run:tools",
  state_schema: { fields },
  nodes,
  edges: nodes.slice(1).map((n, i) => ({ from: nodes[i]!["id"], to: n["id"] }))
})

const buildError = async (ir: unknown, layer: Layer.Layer<never> = Layer.empty): Promise<IRValidationError> => {
  const exit = await Effect.runPromiseExit(Graph.make(ir).pipe(Effect.provide(layer)))
  if (Exit.isSuccess(exit)) throw new Error("expected the graph to be refused")
  const error = exit.cause._tag === "Fail" ? exit.cause.error : undefined
  expect(error).toBeInstanceOf(IRValidationError)
  return error as IRValidationError
}

/** Build and run `ir` in memory; the summary, or the run's typed failure. */
const runIr = (ir: unknown, options: { readonly inputs?: Record<string, unknown>; readonly layer?: Layer.Layer<never, never> } = {}) =>
  Effect.runPromise(Effect.gen(function*() {
    const graph = yield* Graph.make(ir)
    const run = yield* graph.start({ inputs: options.inputs ?? {} })
    return yield* Effect.either(run.start())
  }).pipe(Effect.provide(Layer.merge(MemoryCheckpointer.layer, options.layer ?? Layer.empty))))

let doubles = 0
const double = Tool.make({
  id: "test.double",
  version: "1",
  description: "Doubles a number (counts its live calls)",
  input: Schema.Struct({ n: Schema.Number }),
  output: Schema.Struct({ doubled: Schema.Number }),
  run: ({ n }) => Effect.sync(() => (doubles++, { doubled: n * 2 }))
})

describe("std.calculator", () => {
  it("follows Python's arithmetic: precedence, ** right-associative and above unary minus, floor % and //", () => {
    expect(value("(2 + 3) * 4 ** 2 / 8")).toBe(10)
    expect(value("2 + 3 * 4")).toBe(14)
    expect(value("2 ** 3 ** 2")).toBe(512)
    expect(value("-2 ** 2")).toBe(-4)
    expect(value("2 ** -1")).toBe(0.5)
    expect(value("-7 % 3")).toBe(2)
    expect(value("7 // 2")).toBe(3)
    expect(value("-7 // 2")).toBe(-4)
    // Floats too, as Python computes them (fmod-based), not as floor(a / b).
    expect([value("1 // 0.1"), value("1 % 0.1"), value("5 // 0.1"), value("5 % 0.1")]).toEqual([9, 0.09999999999999995, 49, 0.09999999999999973])
    expect([value("-7.5 // 2"), value("-7.5 % 2"), value("7.5 // -2"), value("7.5 % -2"), value("-3 % 7"), value("7 % -2")]).toEqual([-4, 0.5, -4, -0.5, 4, -1])
    expect(value("1.5e3 + .5")).toBe(1500.5)
    expect(value("--3")).toBe(3)
  })

  it("has the listed functions and constants; round is half-to-even", () => {
    expect(value("min(3, 1, 2) + max(4, 9) + abs(-2)")).toBe(12)
    expect(value("sqrt(16) + floor(2.7) + ceil(2.1)")).toBe(9)
    expect(value("round(2.5)")).toBe(2)
    expect(value("round(3.5)")).toBe(4)
    expect(value("round(-2.5)")).toBe(-2)
    expect(value("round(3.14159, 2)")).toBe(3.14)
    // Python's results: the stored double rounded, exact ties to even.
    expect([value("round(2.675, 2)"), value("round(0.125, 2)"), value("round(0.375, 2)"), value("round(-0.125, 2)"), value("round(1.005, 2)")]).toEqual([2.67, 0.12, 0.38, -0.12, 1])
    expect([value("round(1234.5678, -2)"), value("round(0.5)"), value("round(1.5)"), value("round(2.5, 0)")]).toEqual([1200, 0, 2, 2])
    expect(value("log(8, 2)")).toBeCloseTo(3)
    expect(value("log10(1000) + log2(8)")).toBeCloseTo(6)
    expect(value("round(pi, 4)")).toBe(3.1416)
    expect(value("tau / 2 - pi")).toBe(0)
    expect(value("exp(0) + sin(0) + cos(0)")).toBe(2)
  })

  it("refuses what is not arithmetic, with the position", () => {
    expect(problem("")).toMatch(/empty/)
    expect(problem("2 +")).toMatch(/expected a number.*end of the expression/)
    expect(problem("(1 + 2")).toMatch(/expected '\)'/)
    expect(problem("1 + 2)")).toMatch(/unexpected '\)' at position 5/)
    expect(problem("import(1)")).toMatch(/unknown function 'import'/)
    expect(problem("require('fs')")).toMatch(/unexpected character ''' at position 8/)
    expect(problem("x + 1")).toMatch(/unknown name 'x' at position 0/)
    expect(problem("2 $ 3")).toMatch(/unexpected character '\$' at position 2/)
    expect(problem("process.exit(1)")).toMatch(/unexpected character '\.'|unknown/)
    expect(problem("1 / 0")).toMatch(/division by zero \('\/' at position 2\)/)
    expect(problem("5 % 0")).toMatch(/modulo by zero/)
    expect(problem("10.0 ** 400")).toMatch(/not a finite number/)
    expect(problem("sqrt(-1)")).toMatch(/sqrt\(-1\) is not a finite number/)
    expect(problem("sqrt(1, 2)")).toMatch(/takes 1 argument, got 2/)
    expect(problem("min()")).toMatch(/at least 2/)
    // Python's min(1) and max(1) refuse a lone number (it is not a sequence); so does the calculator.
    expect(problem("max(1)")).toMatch(/max\(\) takes at least 2 arguments, got 1/)
    expect(problem("round(2.5, 0.5)")).toMatch(/digits must be an integer/)
    expect(problem(`${"(".repeat(300)}1${")".repeat(300)}`)).toMatch(/nests more than 200 levels/)
  })

  it("keeps ints exact, as Python does, and refuses an int result past ±2^53 (a JSON number cannot carry it) with the fix", async () => {
    expect([value("3 ** 40 // 3 ** 30"), value("(2 ** 100 + 1) % 7"), value("2 ** 53 - 1"), value("-(2 ** 100) // 3 ** 50 // 10 ** 20")]).toEqual([59049, 3, 9007199254740991, -1])
    // int / int is the exact quotient rounded once; floor, ceil and round give ints; floats stay floats.
    expect([value("10 ** 400 / 10 ** 399"), value("2 ** 100 / 3 ** 50"), value("floor(2.5e10) * 3"), value("3.0 ** 40"), value("2 ** -1000")]).toEqual([10, 1765780.963259017, 75000000000, 12157665459056929000, 9.332636185032189e-302])
    expect([value("round(1250, -2)"), value("round(1350, -2)"), value("round(-1250, -2)"), value("max(2 ** 53 + 1, 2.0 ** 53) - 2 ** 53")]).toEqual([1200, 1400, -1200, 1])
    for (const [expression, digits] of [["3 ** 40", "12157665459056928801"], ["2 ** 64 + 1", "18446744073709551617"], ["2 ** 53 + 1", "9007199254740993"], ["floor(1e20)", "100000000000000000000"]] as const) {
      expect(problem(expression)).toBe(`the result ${digits} is an integer past ±2^53 (9007199254740991), which a JSON number cannot carry exactly`)
    }
    const e = await err(calculator, { expression: "3 ** 40" })
    expect(e).toMatchObject({ _tag: "ToolError", reason: "failed", argument: "expression" })
    expect(e.message).toBe("cannot evaluate '3 ** 40': the result 12157665459056928801 is an integer past ±2^53 (9007199254740991), which a JSON number cannot carry exactly")
    expect(e.fix).toBe("if an approximation will do, make an operand a float (3.0 ** 40, not 3 ** 40; floor, ceil and round give ints)")
    expect(problem("10 ** 400 / 1")).toBe("integer division result too large for a float")
    expect(problem("sqrt(10 ** 400)")).toBe("int too large to convert to float")
    expect(problem("(10 ** 999) ** 999")).toMatch(/would be an integer of more than 100000 bits/)
  })

  it("refuses an exponent past ±1000, as the original does, naming the position and the fix", async () => {
    expect(problem("2 ** 1001")).toBe("exponent magnitude exceeds 1000 ('**' at position 2, exponent 1001)")
    expect(problem("2 ** -1001")).toBe("exponent magnitude exceeds 1000 ('**' at position 2, exponent -1001)")
    expect(problem("2.0 ** 1000.5")).toMatch(/^exponent magnitude exceeds 1000/)
    expect(problem("10 ** 2000")).toMatch(/^exponent magnitude exceeds 1000/)
    expect(problem("9 ** 9 ** 9")).toBe("exponent magnitude exceeds 1000 ('**' at position 2, exponent 387420489)")
    expect(value("2 ** 1000 // 2 ** 990")).toBe(1024)
    const e = await err(calculator, { expression: "2 ** 1001" })
    expect(e.fix).toBe("keep each exponent within ±1000 (the bound guards against huge powers, as the original's calculator does)")
  })

  it("reads Python's number literals (_ between digits, 0x, 0o, 0b) and refuses what Python's parser refuses", () => {
    expect([value("1_000 + 1"), value("0x10 + 1"), value("0o17"), value("0b101"), value("0XfF"), value("1_000.5"), value("1e1_0"), value("00"), value("0123.5"), value("5."), value(".5")])
      .toEqual([1001, 17, 15, 5, 255, 1000.5, 1e10, 0, 123.5, 5, 0.5])
    expect(problem("0123")).toBe("leading zeros in decimal integer literals are not permitted ('0123' at position 0), as in Python")
    expect(Either.isLeft(evaluate("0123")) && evaluate("0123")).toMatchObject({ left: { fix: "write 123, or 0o123 if it is an octal int" } })
    expect(problem("1__0")).toBe("invalid number literal '1_…' at position 0")
    expect(problem("1_ + 2")).toBe("invalid number literal '1_…' at position 0")
    expect(problem("0x")).toBe("invalid number literal '0x…' at position 0")
    expect(problem("0b102")).toBe("invalid number literal '0b102…' at position 0")
    expect(problem("2x")).toBe("invalid number literal '2x…' at position 0")
    expect(problem("1 + 1j")).toBe("complex literal '1j' at position 4: the calculator takes ints and floats")
  })

  it("answers {result} and fails with a ToolError naming the expression", async () => {
    expect(await ok(calculator, { expression: "6 * 7" })).toEqual({ result: 42 })
    const e = await err(calculator, { expression: "6 *" })
    expect(e).toMatchObject({ _tag: "ToolError", reason: "failed", argument: "expression" })
    expect(e.message).toContain("cannot evaluate '6 *'")
  })
})

describe("std.json_path", () => {
  const data = { store: { book: [{ title: "A", price: 8 }, { title: "B", price: 12, tags: ["x"] }], "odd key": 1, owner: { title: "T" } } }

  it("selects members, indexes (negative from the end), wildcards and descendants", async () => {
    expect(await ok(jsonPath, { data, path: "$.store.book[0].title" })).toEqual({ matches: ["A"], value: "A", count: 1 })
    expect((await ok(jsonPath, { data, path: "$.store.book[*].price" }))["matches"]).toEqual([8, 12])
    expect((await ok(jsonPath, { data, path: "$.store.book[-1].title" }))["value"]).toBe("B")
    expect((await ok(jsonPath, { data, path: "$..title" }))["matches"]).toEqual(["A", "B", "T"])
    expect((await ok(jsonPath, { data, path: "$.store['odd key']" }))["value"]).toBe(1)
    expect((await ok(jsonPath, { data, path: "$.store.owner.*" }))["matches"]).toEqual(["T"])
    expect((await ok(jsonPath, { data, path: "$" }))["value"]).toEqual(data)
  })

  it("answers no match with value null and an empty list", async () => {
    expect(await ok(jsonPath, { data, path: "$.store.book[5]" })).toEqual({ matches: [], value: null, count: 0 })
    expect(await ok(jsonPath, { data, path: "$.nothing.here" })).toEqual({ matches: [], value: null, count: 0 })
  })

  it("refuses a malformed path naming the position, and a selection too wide", async () => {
    for (const [path, message] of [["store.book", /starts with '\$'/], ["$.store[", /not closed/], ["$.store[x]", /not an index/], ["$.", /ends after/], ["$.store!", /expected '\.'/]] as const) {
      const e = await err(jsonPath, { data, path })
      expect(e).toMatchObject({ reason: "invalid-input", argument: "path" })
      expect(e.message).toMatch(message)
    }
    const wide = await err(jsonPath, { data: Array.from({ length: 10_001 }, (_, i) => i), path: "$[*]" })
    expect(wide).toMatchObject({ reason: "failed", argument: "path" })
    // Far wider (an array too large to spread into one call) is the same error, not a stack overflow.
    const huge = await err(jsonPath, { data: Array.from({ length: 300_000 }, (_, i) => i), path: "$[*]" })
    expect(huge).toMatchObject({ reason: "failed", argument: "path", message: "'$[*]' selects more than 10000 values" })
  })
})

describe("std.regex_extract", () => {
  it("lists every match with numbered and named groups, and picks a group", async () => {
    const r = await ok(regexExtract, { text: "INC-12 and inc-7, not X-1", pattern: "inc-(?<id>\\d+)", flags: "i" })
    expect(r["count"]).toBe(2)
    expect(r["matches"][0]).toEqual({ match: "INC-12", index: 0, groups: ["12"], named: { id: "12" } })
    expect(r["values"]).toEqual(["INC-12", "inc-7"])
    expect((await ok(regexExtract, { text: "a=1 b=2", pattern: "(\\w)=(\\d)", group: 2 }))["values"]).toEqual(["1", "2"])
    expect((await ok(regexExtract, { text: "INC-12", pattern: "INC-(?<id>\\d+)", group: "id" }))["value"]).toBe("12")
    expect(await ok(regexExtract, { text: "none", pattern: "\\d+" })).toMatchObject({ matched: false, count: 0, value: null, values: [] })
    expect((await ok(regexExtract, { text: "aaaa", pattern: "a", max_matches: 3 }))["count"]).toBe(3)
    // An empty match advances instead of looping.
    expect((await ok(regexExtract, { text: "abc", pattern: "x*" }))["count"]).toBe(4)
    expect((await ok(regexExtract, { text: "a\nb", pattern: "^b$", flags: "m" }))["value"]).toBe("b")
  })

  it("refuses a bad pattern or group, and stops a catastrophic pattern in time", async () => {
    expect(await err(regexExtract, { text: "x", pattern: "(unclosed" })).toMatchObject({ reason: "invalid-input", argument: "pattern" })
    const group = await err(regexExtract, { text: "x", pattern: "(x)", group: 2 })
    expect(group).toMatchObject({ reason: "invalid-input", argument: "group" })
    expect(group.message).toContain("1 numbered group")
    expect(await err(regexExtract, { text: "x", pattern: "(?<a>x)", group: "b" })).toMatchObject({ argument: "group" })
    const t0 = Date.now()
    const slow = await err(regexExtract, { text: `${"a".repeat(40)}!`, pattern: "(a+)+$" })
    expect(slow).toMatchObject({ reason: "timeout" })
    expect(Date.now() - t0).toBeLessThan(5_000)
    // One that backtracks on the empty text: the probe for its groups is stopped in time too
    // (it used to run outside the limit, about 13 s here, blocking the whole process).
    const t1 = Date.now()
    expect(await err(regexExtract, { text: "x", pattern: `${"(?:^|$)".repeat(29)}(?!)` })).toMatchObject({ reason: "timeout" })
    expect(Date.now() - t1).toBeLessThan(5_000)
  })
})

describe("std.template_render", () => {
  it("renders {{name}} placeholders and dotted paths; objects as JSON", async () => {
    const r = await ok(templateRender, { template: "Hi {{ who.name }}, {{n}} items: {{items}} {{flag}}{{none}}.", values: { who: { name: "Ada" }, n: 2, items: ["a", "b"], flag: true, none: null } })
    expect(r).toEqual({ text: "Hi Ada, 2 items: [\"a\",\"b\"] true." })
  })

  it("fails naming a placeholder without a value", async () => {
    const e = await err(templateRender, { template: "{{a}} {{b.c}}", values: { a: 1 } })
    expect(e).toMatchObject({ reason: "invalid-input", argument: "values" })
    expect(e.message).toContain("{{b.c}}")
  })
})

describe("std.http_fetch and capabilities", () => {
  let server: Server
  let base: string
  let slowHits = 0
  beforeAll(async () => {
    server = createServer((req, res) => {
      if (req.url === "/hello") return res.writeHead(200, { "content-type": "text/plain" }).end("hello there")
      if (req.url === "/echo") {
        let body = ""
        req.on("data", (c: Buffer) => (body += c.toString()))
        req.on("end", () => res.writeHead(201, { "content-type": "application/json" }).end(JSON.stringify({ method: req.method, body, h: req.headers["x-test"] })))
        return
      }
      if (req.url === "/big") return res.writeHead(200).end("x".repeat(200_000))
      if (req.url === "/redirect") return res.writeHead(302, { location: "/hello" }).end()
      if (req.url === "/away") return res.writeHead(302, { location: `http://localhost:${(server.address() as AddressInfo).port}/hello` }).end()
      if (req.url === "/loop") return res.writeHead(302, { location: "/loop" }).end()
      if (req.url === "/slow") {
        slowHits++
        setTimeout(() => res.writeHead(200).end("late"), 1_000)
        return
      }
      res.writeHead(404).end("no")
    })
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve))
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`
  })
  afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())))

  it("is refused without the net.fetch capability, and makes no request", async () => {
    const before = slowHits
    const e = await err(httpFetch, { url: `${base}/slow` })
    expect(e).toMatchObject({ _tag: "ToolError", reason: "capability-denied", capability: `net.fetch:${base}/slow` })
    // The server is on 127.0.0.1, which a bare net.fetch does not reach: the fix names its host,
    // so following it works the first time (before, it said net.fetch, which was refused next).
    const grant = `net.fetch:${new URL(base).origin}/*`
    expect(e.fix).toBe(`grant its host by name: STARGRAPH_CAPABILITIES=${grant} in the environment of stargraph run/serve, or Capabilities.layer(["${grant}"]) where the app runs the graph`)
    expect(e.message).toContain("127.0.0.1 is a loopback address, which a bare net.fetch grant does not reach")
    expect(await ok(httpFetch, { url: `${base}/hello` }, [grant])).toMatchObject({ status: 200 })
    expect(slowHits).toBe(before)
    // A public host's refusal names the bare grant (no request is made: it is refused first).
    const publicHost = await err(httpFetch, { url: "https://example.com/x" })
    expect(publicHost.fix).toContain("STARGRAPH_CAPABILITIES=net.fetch in")
  })

  it("fetches with the capability (a Layer, a scoped grant, or STARGRAPH_CAPABILITIES)", async () => {
    expect(await ok(httpFetch, { url: `${base}/hello` }, ["net.fetch:http://127.0.0.1:*"])).toMatchObject({
      status: 200,
      url: `${base}/hello`,
      body: "hello there",
      content_type: "text/plain",
      size: 11,
      truncated: false
    })
    expect((await ok(httpFetch, { url: `${base}/hello` }, ["net.fetch:http://127.0.0.1:*"]))["body"]).toBe("hello there")
    expect(await err(httpFetch, { url: `${base}/hello` }, ["net.fetch:https://example.com/*"])).toMatchObject({ reason: "capability-denied" })
    const posted = await ok(httpFetch, { url: `${base}/echo`, method: "POST", body: "ping", headers: { "x-test": "yes" } }, ["net.fetch:http://127.0.0.1:*"])
    expect(posted["status"]).toBe(201)
    expect(JSON.parse(posted["body"] as string)).toEqual({ method: "POST", body: "ping", h: "yes" })
    const saved = process.env["STARGRAPH_CAPABILITIES"]
    process.env["STARGRAPH_CAPABILITIES"] = "fs.read, net.fetch:http://127.0.0.1:*"
    try {
      expect((await ok(httpFetch, { url: `${base}/hello` }))["status"]).toBe(200)
    } finally {
      if (saved === undefined) delete process.env["STARGRAPH_CAPABILITIES"]
      else process.env["STARGRAPH_CAPABILITIES"] = saved
    }
  })

  it("follows redirects, each hop checked against the grant; caps the body; times out", async () => {
    expect(await ok(httpFetch, { url: `${base}/redirect` }, ["net.fetch:http://127.0.0.1:*"])).toMatchObject({ status: 200, url: `${base}/hello`, body: "hello there" })
    // A grant for 127.0.0.1 does not cover the redirect's other host.
    expect(await err(httpFetch, { url: `${base}/away` }, ["net.fetch:http://127.0.0.1:*"])).toMatchObject({ reason: "capability-denied" })
    expect((await err(httpFetch, { url: `${base}/loop` }, ["net.fetch:http://127.0.0.1:*"])).message).toContain("more than 5 redirects")
    expect(await ok(httpFetch, { url: `${base}/big`, max_bytes: 1000 }, ["net.fetch:http://127.0.0.1:*"])).toMatchObject({ size: 1000, truncated: true })
    expect(await err(httpFetch, { url: `${base}/slow`, timeout_ms: 100 }, ["net.fetch:http://127.0.0.1:*"])).toMatchObject({ reason: "timeout" })
  })

  it("refuses a URL that is not http(s), a body on GET, and a closed port", async () => {
    expect(await err(httpFetch, { url: "file:///etc/passwd" }, ["net.fetch:http://127.0.0.1:*"])).toMatchObject({ reason: "invalid-input", argument: "url" })
    expect(await err(httpFetch, { url: "not a url" }, ["net.fetch:http://127.0.0.1:*"])).toMatchObject({ reason: "invalid-input", argument: "url" })
    expect(await err(httpFetch, { url: `${base}/hello`, body: "x" }, ["net.fetch:http://127.0.0.1:*"])).toMatchObject({ reason: "invalid-input", argument: "body" })
    const closed = createServer()
    await new Promise<void>((resolve) => closed.listen(0, "127.0.0.1", resolve))
    const port = (closed.address() as AddressInfo).port
    await new Promise<void>((resolve) => closed.close(() => resolve()))
    expect(await err(httpFetch, { url: `http://127.0.0.1:${port}/` }, ["net.fetch:http://127.0.0.1:*"])).toMatchObject({ reason: "failed" })
  })

  it("covers: a name grants every scope, a glob only what it matches", () => {
    expect(Capabilities.covers(["net.fetch"], "net.fetch:https://a.example/x")).toBe(true)
    expect(Capabilities.covers(["net.fetch"], "net.fetch")).toBe(true)
    expect(Capabilities.covers(["net.fetch:https://a.example/*"], "net.fetch:https://a.example/x")).toBe(true)
    expect(Capabilities.covers(["net.fetch:https://a.example/*"], "net.fetch:https://b.example/x")).toBe(false)
    expect(Capabilities.covers(["net.fetch:https://a.example/*"], "net.fetch")).toBe(false)
    expect(Capabilities.covers(["net.fetchx"], "net.fetch")).toBe(false)
    // A URL glob's wildcards stay within the part they are written in: a host wildcard
    // cannot be steered to another host by the path, the query or user info.
    const sub = ["net.fetch:http://*.example.com/*"]
    expect(Capabilities.covers(sub, "net.fetch:http://api.example.com/v1?q=1")).toBe(true)
    expect(Capabilities.covers(sub, "net.fetch:http://a.b.example.com/")).toBe(true)
    expect(Capabilities.covers(sub, "net.fetch:http://127.0.0.1:8080/.example.com/")).toBe(false)
    expect(Capabilities.covers(sub, "net.fetch:http://169.254.169.254/latest?x=.example.com/")).toBe(false)
    expect(Capabilities.covers(sub, "net.fetch:http://evil.test/#.example.com/")).toBe(false)
    expect(Capabilities.covers(["net.fetch:http://127.0.0.1:*"], "net.fetch:http://127.0.0.1:8080/any/path")).toBe(true)
    expect(Capabilities.covers(["net.fetch:http://127.0.0.1:*"], "net.fetch:http://127.0.0.1:80@evil.test/")).toBe(false)
    expect(Capabilities.covers(["net.fetch:https://*"], "net.fetch:https://evil.test:8443/x")).toBe(true)
    expect(Capabilities.covers(["net.fetch:https://*"], "net.fetch:http://evil.test/")).toBe(false)
    expect(Capabilities.fromEnv({ STARGRAPH_CAPABILITIES: " a, b  c," })).toEqual(["a", "b", "c"])
  })

  it("a graph calling std.http_fetch without the capability fails with ToolError[capability-denied], located", async () => {
    const ir = graphIr({ url: { type: "string" }, page: { type: "object" } }, [
      { id: "get", kind: "tool", tool: "std.http_fetch@1", inputs: { url: "url" }, out: "page" }
    ])
    const denied = await runIr(ir, { inputs: { url: `${base}/hello` } })
    expect(Either.isLeft(denied) && denied.left).toMatchObject({ _tag: "ToolError", reason: "capability-denied", tool: "std.http_fetch@1", nodeId: "get", step: 1 })
    const allowed = await runIr(ir, { inputs: { url: `${base}/hello` }, layer: Capabilities.layer(["net.fetch:http://127.0.0.1:*"]) })
    expect(Either.isRight(allowed) && allowed.right.final_state["page"]).toMatchObject({ status: 200, body: "hello there" })
  })
})

describe("the tool kind at build", () => {
  const fields = { expression: { type: "string", default: "1 + 1" }, tool_result: { type: "object" }, total: { type: "number" } }
  const node = (extra: Record<string, unknown>) => graphIr(fields, [{ id: "calc", kind: "tool", ...extra }])

  it("refuses an unknown tool, listing the known ones; an unknown version, listing its versions", async () => {
    const unknown = await buildError(node({ tool: "std.nope@1", inputs: { expression: "expression" } }))
    expect(unknown.path).toBe("nodes[0].tool")
    expect(unknown.message).toContain("unknown tool 'std.nope@1'")
    expect(unknown.fix).toContain("std.calculator@1")
    expect(unknown.fix).toContain("std.http_fetch@1")
    const version = await buildError(node({ config: { tool: "std.calculator@9", inputs: { expression: "expression" } } }))
    expect(version.path).toBe("nodes[0].config.tool")
    expect(version.message).toContain("has no version '9'")
    expect(version.fix).toContain("std.calculator@1")
  })

  it("names an unknown tool before the undeclared field its result would go to by default (no out, no tool_result)", async () => {
    const bare = (tool: string) => graphIr({ expression: { type: "string" } }, [{ id: "calc", kind: "tool", tool, inputs: { expression: "expression" } }])
    const unknown = await buildError(bare("std.nope@1"))
    expect([unknown.path, unknown.message]).toEqual(["nodes[0].tool", "unknown tool 'std.nope@1'"])
    const version = await buildError(bare("std.calculator@9"))
    expect(version.message).toContain("has no version '9'")
    // A known tool: then the default field is the problem.
    const known = await buildError(bare("std.calculator@1"))
    expect([known.path, known.message]).toEqual(["nodes[0].tool", "the result goes to state field 'tool_result' (out's default), which is not declared"])
  })

  it("refuses an object result written whole to a field declared as a scalar or a list, naming the keys to pick", async () => {
    const into = (type: string, out?: string) =>
      graphIr({ expression: { type: "string" }, total: { type }, tool_result: { type } }, [{ id: "calc", kind: "tool", tool: "std.calculator@1", inputs: { expression: "expression" }, ...(out !== undefined ? { out } : {}) }])
    const scalar = await buildError(into("number", "total"))
    expect([scalar.path, scalar.message]).toEqual(["nodes[0].out", "std.calculator@1 returns an object {result}, which state field 'total' (declared number) cannot hold"])
    expect(scalar.fix).toBe("pick a key of the result into the field: out: {total: result}; or declare 'total' as an object")
    const byDefault = await buildError(into("string"))
    expect([byDefault.path, byDefault.message]).toEqual(["nodes[0].tool", "std.calculator@1 returns an object {result}, which state field 'tool_result' (declared string) cannot hold"])
    // An object or untyped field holds it, as before.
    for (const type of ["object", "any"]) {
      const r = await runIr(into(type, "total"), { inputs: { expression: "2 * 3" } })
      expect(Either.isRight(r) && r.right.final_state["total"]).toEqual({ result: 6 })
    }
  })

  it("checks argument names, required arguments and constants against the input Schema", async () => {
    const extra = await buildError(node({ tool: "std.calculator", inputs: { expression: "expression" }, static: { precision: 2 } }))
    expect([extra.path, extra.message]).toEqual(["nodes[0].static.precision", "std.calculator@1 takes no argument 'precision'"])
    expect(extra.fix).toContain("expression")
    const missing = await buildError(node({ tool: "std.calculator", out: "tool_result" }))
    expect(missing.message).toContain("needs argument 'expression'")
    const badStatic = await buildError(node({ tool: "std.calculator", static: { expression: 42 } }))
    expect(badStatic.path).toBe("nodes[0].static.expression")
    expect(badStatic.message).toMatch(/Expected string, actual 42/)
    const refined = await buildError(graphIr({ text: { type: "string" }, tool_result: { type: "object" } }, [
      { id: "re", kind: "tool", tool: "std.regex_extract", inputs: { text: "text" }, static: { pattern: "x", max_matches: 5000 } }
    ]))
    expect(refined.path).toBe("nodes[0].static.max_matches")
  })

  it("checks inputs and out against the state fields, and one form only", async () => {
    const undeclared = await buildError(node({ tool: "std.calculator", inputs: { expression: "formula" } }))
    expect([undeclared.path, undeclared.message]).toEqual(["nodes[0].inputs.expression", "argument 'expression' reads undeclared state field 'formula'"])
    const template = await buildError(node({ tool: "std.calculator", inputs: { expression: "{{expression}} + {{nope}}" } }))
    expect(template.message).toContain("'nope'")
    const both = await buildError(node({ tool: "std.calculator", inputs: { expression: "expression" }, static: { expression: "1" } }))
    expect(both.path).toBe("nodes[0].static.expression")
    const out = await buildError(node({ tool: "std.calculator", inputs: { expression: "expression" }, out: "answer" }))
    expect([out.path, out.message]).toEqual(["nodes[0].out", "the result goes to state field 'answer', which is not declared"])
    const outMap = await buildError(node({ tool: "std.calculator", inputs: { expression: "expression" }, out: { answer: "result" } }))
    expect(outMap.path).toBe("nodes[0].out.answer")
    const twoForms = await buildError(node({ tool: "std.calculator", config: { tool: "std.calculator" } }))
    expect(twoForms.message).toContain("both beside and under config")
    const noTool = await buildError(node({ config: { inputs: { expression: "expression" } } }))
    expect(noTool.message).toContain("without 'tool'")
    const python = await buildError(node({ tool: "stargraph.tools.std.calculator:calculator" }))
    expect(python.message).toContain("Python module reference")
    const unknownField = await buildError(node({ tool: "std.calculator", inputs: { expression: "expression" }, retries: 3 }))
    expect(unknownField.path).toBe("nodes[0].retries")
  })

  it("keeps the original's placeholder: a tool node without a tool copies `message`", async () => {
    const placeholder = graphIr({ message: { type: "string" } }, [{ id: "t", kind: "tool" }, { id: "u", kind: "tool", config: {} }])
    const r = await runIr(placeholder, { inputs: { message: "hi" } })
    expect(Either.isRight(r) && r.right).toMatchObject({ status: "done", steps: 2, final_state: { message: "hi" } })
    const refused = await buildError(graphIr({ other: { type: "string" } }, [{ id: "t", kind: "tool" }]))
    expect(refused.message).toContain("placeholder")
  })

  it("pins the tool version in the graph hash: a bare id takes the highest version registered", async () => {
    const v2 = Tool.make({ ...double, id: "test.double", version: "2", description: "v2", input: Schema.Struct({ n: Schema.Number }), output: Schema.Struct({ doubled: Schema.Number }), run: ({ n }) => Effect.succeed({ doubled: n * 20 }) })
    const v10 = Tool.make({ id: "test.double", version: "10", description: "v10", input: Schema.Struct({ n: Schema.Number }), output: Schema.Struct({ doubled: Schema.Number }), run: ({ n }) => Effect.succeed({ doubled: n * 100 }) })
    const registry = ToolRegistry.layer(double, v2, v10)
    const ir = (tool: string) => graphIr({ n: { type: "number", default: 1 }, tool_result: { type: "object" } }, [{ id: "d", kind: "tool", tool, inputs: { n: "n" } }])
    const hash = (tool: string, layer: Layer.Layer<ToolRegistry.ToolRegistry, StargraphRuntimeError> = registry) =>
      Effect.runPromise(Effect.map(Graph.make(ir(tool)), (g) => g.graphHash).pipe(Effect.provide(layer)))
    // The same IR gets another hash once a newer version is registered: a run is never resumed on it.
    expect(await hash("test.double")).not.toBe(await hash("test.double", ToolRegistry.layer(double, v2)))
    expect(await hash("test.double@2")).toBe(await hash("test.double@2", ToolRegistry.layer(double, v2)))
    const r = await runIr(ir("test.double"), { layer: Layer.orDie(registry) })
    expect(Either.isRight(r) && r.right.final_state["tool_result"]).toEqual({ doubled: 100 })
    expect(Tool.compareVersions("1.0-beta", "1.0")).toBeLessThan(0)
    expect(Tool.compareVersions("1.10", "1.9")).toBeGreaterThan(0)
  })

  it("a registry Layer refuses two tools with one id@version, and a malformed id", async () => {
    const clash = Tool.make({ ...double, run: () => Effect.succeed({ doubled: 0 }) })
    const dup = await Effect.runPromiseExit(Effect.provide(Graph.make(graphIr({}, [])), ToolRegistry.layer(double, clash)))
    expect(Exit.isFailure(dup) && dup.cause._tag === "Fail" && dup.cause.error).toBeInstanceOf(StargraphRuntimeError)
    expect(Either.getLeft(ToolRegistry.make([Tool.make({ ...double, id: "nodots" })])).pipe((e) => e._tag === "Some" && e.value.message)).toContain("namespace.name")
    expect(Either.isRight(ToolRegistry.make([double, double]))).toBe(true)
  })
})

describe("the tool kind at run", () => {
  const fields = { n: { type: "number" }, text: { type: "string" }, tool_result: { type: "object" }, doubled: { type: "number" } }

  it("a state-fed argument failing the Schema fails the run with ToolError[invalid-input] naming the argument and its field", async () => {
    const ir = graphIr({ ...fields, n: { type: "string" } }, [{ id: "d", kind: "tool", tool: "test.double@1", inputs: { n: "n" } }])
    const r = await runIr(ir, { inputs: { n: "seven" }, layer: Layer.orDie(ToolRegistry.layer(double)) })
    const e = Either.isLeft(r) ? r.left : undefined
    expect(e).toMatchObject({ _tag: "ToolError", reason: "invalid-input", argument: "n", tool: "test.double@1", nodeId: "d", step: 1 })
    expect((e as ToolError).fix).toContain("state field 'n'")
    // A missing (unset) state value is a missing argument.
    const unset = await runIr(graphIr(fields, [{ id: "d", kind: "tool", tool: "test.double@1", inputs: { n: "n" } }]), { layer: Layer.orDie(ToolRegistry.layer(double)) })
    expect(Either.isLeft(unset) && unset.left).toMatchObject({ reason: "invalid-input", argument: "n" })
    const tooLong = await runIr(graphIr({ expression: { type: "string" }, tool_result: { type: "object" } }, [{ id: "c", kind: "tool", tool: "std.calculator", inputs: { expression: "expression" } }]), { inputs: { expression: "1".repeat(5000) } })
    expect(Either.isLeft(tooLong) && tooLong.left).toMatchObject({ reason: "invalid-input", argument: "expression" })
  })

  it("a result failing the output Schema, a throwing tool, a slow tool and a missing out key fail with ToolError", async () => {
    const liar = Tool.make({ id: "test.liar", version: "1", description: "returns the wrong shape", input: Schema.Struct({}), output: Schema.Struct({ ok: Schema.Boolean }), run: () => Effect.succeed({ ok: "yes" } as unknown as { ok: boolean }) })
    const thrower = Tool.make({ id: "test.thrower", version: "1", description: "throws", input: Schema.Struct({}), output: Schema.Struct({}), run: () => { throw new Error("boom") } })
    const sleepy = Tool.make({ id: "test.sleepy", version: "1", description: "slow", input: Schema.Struct({}), output: Schema.Struct({}), run: () => Effect.as(Effect.sleep("2 seconds"), {}) })
    const promiser = Tool.make({ id: "test.promiser", version: "1", description: "a JS tool returning a Promise", input: Schema.Struct({}), output: Schema.Struct({}), run: () => Promise.resolve({}) as unknown as Effect.Effect<Record<string, never>> })
    const registry = Layer.orDie(ToolRegistry.layer(liar, thrower, sleepy, promiser, double))
    const one = (extra: Record<string, unknown>) => runIr(graphIr(fields, [{ id: "t", kind: "tool", ...extra }]), { inputs: { n: 2 }, layer: registry })
    expect(Either.getLeft(await one({ tool: "test.liar" })).pipe((e) => e._tag === "Some" && e.value)).toMatchObject({ _tag: "ToolError", reason: "invalid-output", tool: "test.liar@1" })
    const threw = Either.getLeft(await one({ tool: "test.thrower" }))
    expect(threw._tag === "Some" && threw.value).toMatchObject({ _tag: "ToolError", reason: "failed", message: "the tool threw: boom" })
    const promised = Either.getLeft(await one({ tool: "test.promiser" }))
    expect(promised._tag === "Some" && promised.value).toMatchObject({ reason: "failed", message: "its run returned a Promise, not an Effect" })
    expect(Either.getLeft(await one({ tool: "test.sleepy", timeout_ms: 50 })).pipe((e) => e._tag === "Some" && e.value)).toMatchObject({ reason: "timeout" })
    const picked = Either.getLeft(await one({ tool: "test.double", inputs: { n: "n" }, out: { doubled: "nope" } }))
    expect(picked._tag === "Some" && picked.value).toMatchObject({ reason: "invalid-output" })
    expect(picked._tag === "Some" && (picked.value as ToolError).message).toContain("it has: doubled")
  })

  it("an argument failing the tool's Schema is named in a readable message: a huge value is not copied into it", async () => {
    const ir = graphIr({ text: { type: "string" }, found: { type: "any" } }, [
      { id: "find", kind: "tool", tool: "std.regex_extract@1", inputs: { text: "text" }, static: { pattern: "x+" }, out: { found: "matches" } }
    ])
    const failed = Either.getLeft(await runIr(ir, { inputs: { text: "x".repeat(150_000) } }))
    expect(failed._tag === "Some" && failed.value).toMatchObject({ _tag: "ToolError", reason: "invalid-input", argument: "text" })
    const message = failed._tag === "Some" ? (failed.value as ToolError).message : ""
    expect(message).toMatch(/^text: Expected a string at most 100000 character\(s\) long/)
    expect(message.length).toBeLessThan(400)
  })

  it("a templated argument that reads an unset field is left out, as a named one is: no blank is sent to the tool", async () => {
    const ir = graphIr({ revenue: { type: "number" }, cost: { type: "number" }, margin: { type: "number" } }, [
      { id: "calc", kind: "tool", tool: "std.calculator@1", inputs: { expression: "{{revenue}} - {{cost}}" }, out: { margin: "result" } }
    ])
    const unset = Either.getLeft(await runIr(ir, { inputs: { cost: 30 } }))
    expect(unset._tag === "Some" && unset.value).toMatchObject({ _tag: "ToolError", reason: "invalid-input", argument: "expression" })
    const set = await runIr(ir, { inputs: { revenue: 100, cost: 30 } })
    expect(Either.isRight(set) && set.right.final_state["margin"]).toBe(70)
  })

  it("a tool may need the app's services: provided to run.start(), they are there; missing, a ToolError names it", async () => {
    class Rates extends Context.Tag("test/Rates")<Rates, { readonly factor: number }>() {}
    const convert = Tool.make({
      id: "acme.convert", version: "1", description: "scales n by the app's rate",
      input: Schema.Struct({ n: Schema.Number }), output: Schema.Struct({ doubled: Schema.Number }),
      run: ({ n }) => Effect.map(Rates, (rates) => ({ doubled: n * rates.factor }))
    })
    const ir = graphIr(fields, [{ id: "c", kind: "tool", tool: "acme.convert@1", inputs: { n: "n" }, out: { doubled: "doubled" } }])
    const registry = Layer.orDie(ToolRegistry.layer(convert))
    const provided = await runIr(ir, { inputs: { n: 2 }, layer: Layer.merge(registry, Layer.succeed(Rates, { factor: 3 })) })
    expect(Either.isRight(provided) && provided.right.final_state["doubled"]).toBe(6)
    const missing = await runIr(ir, { inputs: { n: 2 }, layer: registry })
    expect(Either.isLeft(missing) && missing.left).toMatchObject({ _tag: "ToolError", reason: "failed", tool: "acme.convert@1", nodeId: "c" })
    expect(Either.isLeft(missing) && (missing.left as ToolError).message).toContain("the tool needs a service the run does not have: Service not found: test/Rates")
    expect(Either.isLeft(missing) && (missing.left as ToolError).fix).toBe("provide it to the Effect that calls run.start() (or to the Scheduler's layer)")
  })

  it("a tool's own capabilities are checked before it runs", async () => {
    let ran = 0
    const deploy = Tool.make({ id: "acme.deploy", version: "1", description: "deploys", input: Schema.Struct({}), output: Schema.Struct({}), capabilities: ["deploy.prod"], run: () => Effect.sync(() => (ran++, {})) })
    const ir = graphIr(fields, [{ id: "ship", kind: "tool", tool: "acme.deploy@1" }])
    const registry = Layer.orDie(ToolRegistry.layer(deploy))
    const denied = await runIr(ir, { layer: registry })
    expect(Either.isLeft(denied) && denied.left).toMatchObject({ reason: "capability-denied", capability: "deploy.prod", nodeId: "ship" })
    expect(ran).toBe(0)
    const granted = await runIr(ir, { layer: Layer.merge(registry, Capabilities.layer(["deploy.prod"])) })
    expect(Either.isRight(granted)).toBe(true)
    expect(ran).toBe(1)
  })

  it("maps arguments from dotted paths and templates, and picks parts of the result into fields", async () => {
    const ir = graphIr({ order: { type: "object" }, who: { type: "string" }, sku: { type: "string" }, found: { type: "integer" }, line: { type: "string" } }, [
      { id: "pick", kind: "tool", tool: "std.json_path", inputs: { data: "order.lines" }, static: { path: "$[*].sku" }, out: { sku: "value", found: "count" } },
      { id: "say", kind: "tool", tool: "std.template_render", inputs: { template: "{{who}}: {{sku}}", values: "{{order}}" }, out: { line: "text" } }
    ])
    const r = await runIr(ir, { inputs: { order: { lines: [{ sku: "A1" }, { sku: "B2" }], id: 7 }, who: "Ada" } })
    expect(Either.isRight(r) && r.right.final_state).toMatchObject({ sku: "A1", found: 2 })
    // The template was rendered from state before the call: "{{who}}: {{sku}}" became "Ada: A1", values the order.
    expect(Either.isRight(r) && r.right.final_state["line"]).toBe("Ada: A1")
  })
})

describe("user tools from a module beside the graph", () => {
  const folder = () => {
    const dir = tempDir()
    mkdirSync(join(dir, "node_modules"))
    symlinkSync(join(ROOT, "node_modules", "effect"), join(dir, "node_modules", "effect"))
    symlinkSync(ROOT, join(dir, "node_modules", "stargraph"))
    writeFileSync(join(dir, "tools.ts"), [
      `import { Effect, Schema } from "effect"`,
      `import { Tool } from "stargraph"`,
      `export const lookup = Tool.make({`,
      `  id: "acme.lookup", version: "2", description: "Order status by id",`,
      `  input: Schema.Struct({ order_id: Schema.String }),`,
      `  output: Schema.Struct({ status: Schema.String }),`,
      `  run: ({ order_id }) => order_id.startsWith("A") ? Effect.succeed({ status: "shipped" }) : Tool.fail(\`no order \${order_id}\`, "pass an id starting with A")`,
      `})`,
      `export const notATool = { id: "acme.x" }`,
      ``
    ].join("\n"))
    return dir
  }
  const yaml = (tool: string) => [
    `ir_version: "1.0.0"`,
    `id: run:lookup`,
    `state_schema:`,
    `  fields:`,
    `    order_id: { type: string }`,
    `    status: { type: string }`,
    `nodes:`,
    `  - id: lookup`,
    `    kind: tool`,
    `    config:`,
    `      tool: "${tool}"`,
    `      inputs: { order_id: order_id }`,
    `      out: { status: status }`,
    ``
  ].join("\n")

  it("runs a tool exported by ./tools.ts (its source folded into the graph hash)", async () => {
    const dir = folder()
    writeFileSync(join(dir, "graph.yaml"), yaml("./tools.ts:lookup"))
    const out = await Effect.runPromise(Effect.gen(function*() {
      const graph = yield* Graph.load(join(dir, "graph.yaml"))
      const shipped = yield* Effect.flatMap(graph.start({ inputs: { order_id: "A7" } }), (r) => r.start())
      const missing = yield* Effect.either(Effect.flatMap(graph.start({ inputs: { order_id: "B1" } }), (r) => r.start()))
      return { hash: graph.graphHash, shipped, missing }
    }).pipe(Effect.provide(MemoryCheckpointer.layer)))
    expect(out.shipped.final_state).toMatchObject({ status: "shipped" })
    expect(Either.isLeft(out.missing) && out.missing.left).toMatchObject({ _tag: "ToolError", reason: "failed", tool: "acme.lookup@2", message: "no order B1" })
    writeFileSync(join(dir, "tools.ts"), `${(await import("node:fs")).readFileSync(join(dir, "tools.ts"), "utf8")}\n// edited\n`)
    const after = await Effect.runPromise(Effect.map(Graph.load(join(dir, "graph.yaml")), (g) => g.graphHash))
    expect(after).not.toBe(out.hash)
  })

  it("refuses an export that is not a tool, a version the module does not export, and a missing export", async () => {
    const dir = folder()
    for (const [tool, message] of [
      ["./tools.ts:notATool", "is not a tool"],
      ["./tools.ts:lookup@1", "asks for version 1, but the module exports acme.lookup@2"]
    ] as const) {
      writeFileSync(join(dir, "graph.yaml"), yaml(tool))
      const exit = await Effect.runPromiseExit(Graph.load(join(dir, "graph.yaml")))
      const e = Exit.isFailure(exit) && exit.cause._tag === "Fail" ? exit.cause.error as StargraphError : undefined
      expect(e).toBeInstanceOf(IRValidationError)
      expect((e as IRValidationError).path).toBe("nodes[0].config.tool")
      expect((e as IRValidationError).message).toContain(message)
    }
    writeFileSync(join(dir, "graph.yaml"), yaml("./tools.ts:nothing"))
    const missing = await Effect.runPromiseExit(Graph.load(join(dir, "graph.yaml")))
    expect(Exit.isFailure(missing) && missing.cause._tag === "Fail" && missing.cause.error).toMatchObject({ _tag: "NodeModuleError", reason: "export-not-found" })
    // The fix speaks of the reference the graph wrote, not of an `export` field the tool node does not have.
    expect(Exit.isFailure(missing) && missing.cause._tag === "Fail" && (missing.cause.error as { fix: string }).fix).toMatch(/or reference one of its exports as \.\/tools\.ts:<name> \(/)
  })
})

describe("tool calls in the cassette", () => {
  const ir = graphIr({ expression: { type: "string", default: "3 * 7" }, total: { type: "number" }, doubled: { type: "number" } }, [
    { id: "compute", kind: "tool", tool: "std.calculator@1", inputs: { expression: "expression" }, out: { total: "result" } },
    { id: "twice", kind: "tool", config: { tool: "test.double@1", inputs: { n: "total" }, out: { doubled: "doubled" } } }
  ])

  it("records each call keyed by (tool, args); a replay and a fork answer from it without running the tool", async () => {
    const filename = join(tempDir(), "tools.sqlite")
    const out = await Effect.runPromise(Effect.gen(function*() {
      const graph = yield* Graph.make(ir)
      const checkpointer = yield* Checkpointer
      const parent = yield* Effect.flatMap(graph.start({}), (r) => r.start())
      const liveAfterParent = doubles
      const replayed = yield* Replay.fork(graph, parent.run_id, {})
      const fromMiddle = yield* Replay.fork(graph, parent.run_id, { fromStep: 1 })
      const liveAfterReplays = doubles
      const diverged = yield* Replay.fork(graph, parent.run_id, { mutation: { state_overrides: { expression: "2 * 2" } } })
      const liveAfterDiverged = doubles
      const escaped = yield* Replay.fork(graph, parent.run_id, { mutation: { state_overrides: { expression: "2 * 2" } }, liveAfterFork: true })
      return {
        parent,
        parentCheckpoints: yield* checkpointer.listCheckpoints(parent.run_id),
        replayedCheckpoints: yield* checkpointer.listCheckpoints(replayed.cfRunId),
        replayed,
        fromMiddle,
        diverged,
        escaped,
        live: { liveAfterParent, liveAfterReplays, liveAfterDiverged, end: doubles }
      }
    }).pipe(Effect.provide(Layer.merge(SqliteCheckpointer.layer({ filename }), Layer.orDie(ToolRegistry.layer(double))))))
    expect(out.parent.final_state).toMatchObject({ total: 21, doubled: 42 })
    const [, step1, step2] = out.parentCheckpoints
    const request = { tool: "std.calculator@1", args: { expression: "3 * 7" } }
    expect(step1!.calls).toEqual([{ node: "compute", seq: 0, name: "tool.std.calculator", request, request_hash: requestHash("tool.std.calculator", request), response: { result: 21 } }])
    expect(step2!.calls?.[0]).toMatchObject({ name: "tool.test.double", request: { tool: "test.double@1", args: { n: 21 } }, response: { doubled: 42 } })
    // Replays ran no tool and produced the same checkpoints (state, writes and calls per step).
    expect(out.live.liveAfterReplays).toBe(out.live.liveAfterParent)
    expect(out.replayed.summary).toMatchObject({ status: "done", final_state: out.parent.final_state })
    expect(out.fromMiddle.summary.final_state).toEqual(out.parent.final_state)
    const strip = (cps: typeof out.parentCheckpoints) => cps.map((c) => ({ step: c.step, state: c.state, writes: c.writes, calls: c.calls, next: c.next }))
    expect(strip(out.replayedCheckpoints)).toEqual(strip(out.parentCheckpoints))
    // Another expression is another request: a loud divergence, unless live calls are allowed.
    expect(out.diverged.error).toMatchObject({ _tag: "ReplayDivergenceError", reason: "request-mismatch", call: "tool.std.calculator", nodeId: "compute" })
    expect(out.live.liveAfterDiverged).toBe(out.live.liveAfterReplays)
    expect(out.escaped.summary.final_state).toMatchObject({ total: 4, doubled: 8 })
    expect(out.live.end).toBe(out.live.liveAfterDiverged + 1)
  })
})

describe("tool calls as facts for the rules", () => {
  const tokens = Tool.make({
    id: "test.tokens",
    version: "1",
    description: "Answers and reports the tokens it used",
    input: Schema.Struct({ q: Schema.String }),
    output: Schema.Struct({ answer: Schema.String, _tokens: Schema.Struct({ total: Schema.Number }) }),
    run: ({ q }) => Effect.succeed({ answer: q.toUpperCase(), _tokens: { total: 250 } })
  })
  // The original's IR form (no edges): rules over the facts of the step's tool calls route it.
  const ir = {
    ir_version: "1.0.0",
    id: "run:tool-facts",
    state_schema: { fields: { expression: { type: "string", default: "3 * 7" }, total: { type: "number" }, answer: { type: "string" } } },
    nodes: [
      { id: "compute", kind: "tool", tool: "std.calculator@1", inputs: { expression: "expression" }, out: { total: "result" } },
      { id: "ask", kind: "tool", tool: "test.tokens@1", static: { q: "why" }, out: { answer: "answer" } },
      { id: "cheap", kind: "halt" },
      { id: "expensive", kind: "halt" }
    ],
    rules: [
      { id: "r-called", when: "(node-id (id compute)) (stargraph-tool-call (tool_id \"std.calculator\") (args_count 1)) (stargraph-tool-result (tool_id \"std.calculator\") (fields 1) (_source \"compute\"))", then: [{ kind: "goto", target: "ask" }] },
      { id: "r-expensive", when: "(node-id (id ask)) (stargraph-tokens-used (tool_id \"test.tokens\") (total ?t&:(> ?t 100)))", then: [{ kind: "goto", target: "expensive" }] }
    ]
  }

  it("a step's tool calls are asserted as stargraph-tool-call, -tool-result and -tokens-used facts before it is routed; a replay, and a counterfactual that re-routes the step, assert the same", async () => {
    const out = await Effect.runPromise(Effect.gen(function*() {
      const graph = yield* Graph.make(ir)
      const checkpointer = yield* Checkpointer
      const parent = yield* Effect.flatMap(graph.start({}), (r) => r.start())
      const replayed = yield* Replay.fork(graph, parent.run_id, {})
      // A counterfactual at the tool step re-routes it with the same tool facts.
      const moved = yield* Replay.fork(graph, parent.run_id, { fromStep: 1, mutation: { state_overrides: { answer: "unrelated" } } })
      return {
        parent: yield* checkpointer.listCheckpoints(parent.run_id),
        replayed: yield* checkpointer.listCheckpoints(replayed.cfRunId),
        moved: yield* checkpointer.listCheckpoints(moved.cfRunId)
      }
    }).pipe(Effect.provide(Layer.merge(MemoryCheckpointer.layer, Layer.orDie(ToolRegistry.layer(tokens))))))
    expect(out.parent.map((c) => c.node)).toEqual(["__input__", "compute", "ask", "expensive"])
    expect(out.parent[1]!.rules?.firings.map((f) => f.rule)).toEqual(["r-called"])
    expect(out.parent[2]!.rules?.firings.map((f) => f.rule)).toEqual(["r-expensive"])
    expect(out.parent[2]!.facts!.facts.some((f) => f[1] === "stargraph-tokens-used")).toBe(true)
    expect(out.replayed.map((c) => [c.node, c.rules?.firings.map((f) => f.rule)])).toEqual(out.parent.map((c) => [c.node, c.rules?.firings.map((f) => f.rule)]))
    expect(out.moved.map((c) => [c.node, c.rules?.firings.map((f) => f.rule)])).toEqual(out.parent.map((c) => [c.node, c.rules?.firings.map((f) => f.rule)]))
  })
})

