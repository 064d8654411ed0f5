/**
 * compile() + instantiate(): engines sharing one compiled network behave exactly like
 * engines that loaded the program themselves, and keep everything else to themselves
 * (facts, memories, agenda, focus, globals, host functions, run-time relations, later
 * loads). Also: loading stays all or nothing (load time is measured in bench/rules.ts, not here).
 */
import * as Either from "effect/Either"
import { describe, expect, it } from "vitest"
import { compile, FALSE, int, makeEngine, parseProgram, renderFact, str, sym, TRUE, type Engine, type Program, type Snapshot } from "../../src/fathom/clips/index.js"
import { generateCase } from "./generator.js"
import { factsListing, runScript, scriptCommands } from "./harness.js"
import { runOut } from "./helpers.js"

const parse = (text: string): Program => Either.getOrThrow(parseProgram(text, { file: "test.clp" }))

const traced = (e: Engine): Engine => {
  e.watch("facts", true)
  e.watch("rules", true)
  return e
}

describe("compile / instantiate", () => {
  it("instantiate() gives an engine like makeEngine() + load()", () => {
    const text = `(deftemplate a (slot x))\n(deffacts d (a (x 0)))\n(defrule r (a (x ?x)) => (printout t "r " ?x crlf))`
    const compiled = Either.getOrThrow(compile(parse(text)))
    expect(compiled.rules()).toEqual(["r"])
    const e = traced(compiled.instantiate())
    e.reset()
    e.assertFact("a", { x: int(1) })
    const f = traced(makeEngine())
    Either.getOrThrow(f.load(parse(text)))
    f.reset()
    f.assertFact("a", { x: int(1) })
    expect(runOut(e)).toBe(runOut(f))
    expect(e.facts().map(renderFact)).toEqual(f.facts().map(renderFact))
  })

  it("compiles several programs in order, as successive loads", () => {
    const compiled = Either.getOrThrow(compile([parse(`(deftemplate a (slot x))`), parse(`(defrule r (a (x ?x)) => (printout t ?x crlf))`)]))
    const e = compiled.instantiate()
    e.reset()
    e.assertFact("a", { x: int(7) })
    expect(runOut(e)).toBe("7\n")
  })

  it("reports the errors load reports", () => {
    const bad = parse(`(deftemplate a (slot x))\n(defrule r (nodes (x ?x)) => )`)
    const c = compile(bad)
    const l = makeEngine().load(bad)
    expect(Either.isLeft(c) && Either.isLeft(l) && c.left.message === l.left.message && c.left.reason).toBe("unknown-template")
    const unknownFn = compile(parse(`(defrule r => (frob))`))
    expect(Either.isLeft(unknownFn) && unknownFn.left.message).toBe("unknown function frob")
  })

  // Two instances of one compiled program, their commands interleaved, against engines that loaded it themselves.
  it.each(Array.from({ length: 40 }, (_, i) => i + 1))("instances of one program do not see each other's state (random program %i)", (seed) => {
    const a = generateCase(seed)
    const b = generateCase(seed, { heavy: seed % 2 === 0 })
    const compiledA = Either.getOrThrow(compile(parse(a.constructs)))
    const cmdsA = scriptCommands(a.script)
    const run = (engines: ReadonlyArray<Engine>): Array<string> => {
      for (const e of engines) {
        e.reset()
        e.output()
        traced(e)
      }
      const outs = engines.map(() => "")
      const n = Math.max(...engines.map(() => cmdsA.length))
      for (let k = 0; k < n; k++) {
        engines.forEach((e, i) => {
          if (k < cmdsA.length) outs[i] += runScript(e, [cmdsA[k]!])
        })
      }
      return engines.map((e, i) => outs[i] + factsListing(e))
    }
    const reference = makeEngine()
    const loaded = reference.load(parse(a.constructs))
    if (Either.isLeft(loaded)) return
    const [expected] = run([reference])
    // Two instances interleaved, plus an instance of an unrelated program in between.
    const other = compile(parse(b.constructs))
    const extra = Either.isRight(other) ? [other.right.instantiate()] : []
    const outs = run([compiledA.instantiate(), compiledA.instantiate(), ...extra])
    expect(outs[0]).toBe(expected)
    expect(outs[1]).toBe(expected)
  })

  it("globals are per engine", () => {
    const compiled = Either.getOrThrow(compile(parse(`(defglobal ?*n* = 1)\n(defrule bump (go) => (bind ?*n* (+ ?*n* 1)) (printout t ?*n* crlf))`)))
    const a = compiled.instantiate()
    const b = compiled.instantiate()
    a.reset()
    b.reset()
    a.assertOrdered("go", [])
    expect(runOut(a)).toBe("2\n")
    expect(a.snapshot().globals).toEqual({ n: 2 })
    expect(b.snapshot().globals).toEqual({ n: 1 })
    expect(compiled.instantiate().snapshot().globals).toEqual({ n: 1 })
  })

  it("host functions: declared at compile, registered per engine, with an optional shared default", () => {
    const text = `(deftemplate edge (slot to))\n(defrule go (edge (to ?t&:(ok ?t))) => (printout t "go " ?t crlf))`
    const compiled = Either.getOrThrow(compile(parse(text), { functions: ["ok"] }))
    const yes = compiled.instantiate()
    const no = compiled.instantiate()
    yes.registerFunction("ok", () => TRUE)
    no.registerFunction("ok", () => FALSE)
    for (const e of [yes, no]) {
      e.reset()
      e.assertFact("edge", { to: str("b") })
    }
    expect(runOut(yes)).toBe("go b\n")
    expect(runOut(no)).toBe("")
    // An engine that registered nothing reports the call (the test fails, as CLIPS does for LHS errors).
    const none = compiled.instantiate()
    none.reset()
    none.assertFact("edge", { to: str("b") })
    expect(none.output()).toContain("host function ok is not registered")
    // A default implementation given to compile is used until an engine registers its own.
    const withDefault = Either.getOrThrow(compile(parse(text), { functions: { ok: (args) => (args[0]?.value === "b" ? TRUE : FALSE) } }))
    const d = withDefault.instantiate()
    d.reset()
    d.assertFact("edge", { to: str("b") })
    d.assertFact("edge", { to: str("c") })
    expect(runOut(d)).toBe("go b\n")
    const own = withDefault.instantiate()
    own.registerFunction("ok", () => TRUE)
    own.reset()
    own.assertFact("edge", { to: str("c") })
    expect(runOut(own)).toBe("go c\n")
    // Re-registering replaces the implementation for this engine only.
    yes.registerFunction("ok", () => FALSE)
    yes.assertFact("edge", { to: str("z") })
    expect(runOut(yes)).toBe("")
  })

  it("relations first used at run time stay in their engine", () => {
    const compiled = Either.getOrThrow(compile(parse(`(deftemplate a (slot x))`)))
    const a = compiled.instantiate()
    const b = compiled.instantiate()
    a.reset()
    b.reset()
    Either.getOrThrow(a.assertOrdered("note", [sym("x"), int(1)]))
    Either.getOrThrow(a.assertString(`(memo "hi")`))
    expect(a.factsOf("note").map((f) => f.fields)).toEqual([[sym("x"), int(1)]])
    expect(b.factsOf("note")).toEqual([])
    expect(b.factsOf("memo")).toEqual([])
    // and round-trip through snapshots into another instance
    const c = compiled.instantiate()
    Either.getOrThrow(c.restore(JSON.parse(JSON.stringify(a.snapshot())) as Snapshot))
    expect(c.facts().map((f) => f.template)).toEqual(["initial-fact", "note", "memo"])
    // loading into the instance: the relation exists there as it would in a loaded engine
    const loaded = makeEngine()
    Either.getOrThrow(loaded.load(parse(`(deftemplate a (slot x))`)))
    loaded.reset()
    Either.getOrThrow(loaded.assertOrdered("note", [sym("x"), int(1)]))
    for (const e of [a, loaded]) {
      const r = e.load(parse(`(deftemplate note (slot x))`))
      expect(Either.isLeft(r) && r.left.message).toBe("template note is already defined")
      Either.getOrThrow(e.load(parse(`(defrule seen (note ?s ?n) => (printout t "seen " ?s " " ?n crlf))`)))
      expect(runOut(e)).toBe("seen x 1\n")
    }
    expect(b.factsOf("note")).toEqual([])
  })

  it("snapshots move between loaded and instantiated engines", () => {
    const text = `(deftemplate a (slot x))\n(defrule r (a (x ?x)) => (printout t "r " ?x crlf))\n(defrule s (declare (salience -1)) (a (x ?x)) => (printout t "s " ?x crlf))`
    const loaded = makeEngine()
    Either.getOrThrow(loaded.load(parse(text)))
    loaded.reset()
    loaded.assertFact("a", { x: int(1) })
    loaded.assertFact("a", { x: int(2) })
    runOut(loaded, 1)
    const snap = JSON.parse(JSON.stringify(loaded.snapshot())) as Snapshot
    const inst = Either.getOrThrow(compile(parse(text))).instantiate()
    Either.getOrThrow(inst.restore(snap))
    expect(inst.agenda()).toEqual(loaded.agenda())
    expect(runOut(inst)).toBe(runOut(loaded))
  })

  it("loading into an instance gives it a private program; the compiled one and other instances are unchanged", () => {
    const compiled = Either.getOrThrow(compile(parse(`(deftemplate a (slot x))\n(defrule r (a (x ?x)) => (printout t "r " ?x crlf))`), { functions: ["f"] }))
    const a = compiled.instantiate()
    const b = compiled.instantiate()
    const reference = makeEngine()
    Either.getOrThrow(reference.load(parse(`(deftemplate a (slot x))\n(defrule r (a (x ?x)) => (printout t "r " ?x crlf))`)))
    const late = parse(`(defrule late (a (x ?x)) (test (and (f) (g))) => (printout t "late " ?x crlf))`)
    const outs = [a, reference].map((e) => {
      e.registerFunction("f", () => TRUE)
      e.registerFunction("g", () => TRUE)
      e.reset()
      e.assertFact("a", { x: int(1) })
      let out = runOut(e)
      e.assertFact("a", { x: int(2) })
      // a fired match (r 1) and a pending one (r 2) survive the load; the new rule sees both facts
      Either.getOrThrow(e.load(late))
      out += runOut(e)
      return out
    })
    expect(outs[0]).toBe("r 1\nlate 2\nlate 1\nr 2\n")
    expect(outs[0]).toBe(outs[1])
    b.reset()
    expect(a.rules()).toEqual(["r", "late"])
    expect(compiled.rules()).toEqual(["r"])
    expect(compiled.instantiate().rules()).toEqual(["r"])
    b.assertFact("a", { x: int(3) })
    expect(runOut(b)).toBe("r 3\n")
    // a failing load leaves the instance as it was
    const bad = a.load(parse(`(defrule worse (a (x ?x)) => (frob))`))
    expect(Either.isLeft(bad)).toBe(true)
    expect(a.rules()).toEqual(["r", "late"])
  })
})

describe("loading", () => {
  it("a failing program changes nothing: templates, rules, functions, globals, modules", () => {
    const e = makeEngine()
    Either.getOrThrow(e.load(parse(`(defglobal ?*g* = 1)`)))
    const bad = parse(`(defmodule M (export ?ALL))\n(deftemplate M::t (slot x))\n(deffunction twice (?x) (* 2 ?x))\n(defglobal ?*g* = 5 ?*h* = 6)\n(defrule MAIN::r (rel ?x) => (printout t (twice ?x) crlf))\n(defrule r2 => (frob))`)
    expect(Either.isLeft(e.load(bad))).toBe(true)
    expect(e.snapshot().globals).toEqual({ g: 1 })
    // everything the failed program defined can be defined again
    Either.getOrThrow(e.load(parse(`(defmodule M (export ?ALL))\n(deftemplate M::t (slot y))\n(deffunction twice (?x) (* 3 ?x))\n(defrule MAIN::r (rel ?x) => (printout t (twice ?x) crlf))`)))
    e.reset()
    e.assertOrdered("rel", [int(2)])
    expect(runOut(e)).toBe("6\n")
    expect(e.rules()).toEqual(["r"])
  })
})
