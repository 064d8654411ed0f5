import * as Either from "effect/Either"
import { describe, expect, it } from "vitest"
import { parsePatterns, parseProgram } from "../../src/fathom/clips/index.js"
import { loadError } from "./helpers.js"

describe("parseProgram", () => {
  it("parses every construct kind", () => {
    const p = parseProgram(`
      (defmodule MAIN (export ?ALL))
      (deftemplate bosun.violation "a comment" (slot kind (type SYMBOL) (allowed-symbols halt warn) (default warn)) (multislot tags))
      (deffacts start (bosun.violation (kind halt)))
      (deffunction twice (?x) (* 2 ?x))
      (defglobal ?*limit* = 3)
      (defrule r "comment" (declare (salience 10)) ?f <- (bosun.violation (kind ?k)) => (retract ?f))`)
    expect(Either.isRight(p)).toBe(true)
    const kinds = Either.getOrThrow(p).constructs.map((c) => c.kind)
    expect(kinds).toEqual(["defmodule", "deftemplate", "deffacts", "deffunction", "defglobal", "defrule"])
  })

  it("reports an unclosed parenthesis at the opening paren, with the construct", () => {
    const p = parseProgram(`(deftemplate a (slot x))\n\n(defrule r\n  (a (x 1)\n  =>\n  (printout t "x" crlf))`, { file: "pack.clp" })
    const e = Either.getLeft(p)
    expect(e._tag).toBe("Some")
    const err = (e as { value: { reason: string; file: string; line: number; column: number; construct: string } }).value
    expect(err.reason).toBe("parse")
    expect(err.file).toBe("pack.clp")
    expect(err.construct).toBe("defrule r")
    expect([err.line, err.column]).toEqual([3, 1])
  })

  it("reports an unexpected closing parenthesis", () => {
    const err = Either.getOrThrowWith(Either.flip(parseProgram(`(deftemplate a (slot x)))`)), () => new Error("no error"))
    expect(err.reason).toBe("parse")
    expect([err.line, err.column]).toEqual([1, 25])
    expect(err.message).toMatch(/unexpected '\)'/)
  })

  it("reports an unterminated string", () => {
    const err = Either.getOrThrowWith(Either.flip(parseProgram(`(defrule r => (printout t "oops))`)), () => new Error("no error"))
    expect(err.reason).toBe("parse")
    expect(err.message).toMatch(/unterminated string/)
    expect(err.line).toBe(1)
  })

  it("honours lineOffset", () => {
    const err = Either.getOrThrowWith(Either.flip(parseProgram(`(defrule r (a) (b))`, { lineOffset: 40 })), () => new Error("no error"))
    expect(err.line).toBe(41)
    expect(err.construct).toBe("defrule r")
    expect(err.message).toMatch(/no =>/)
  })

  it.each([
    ["(deftemplate a (slot x (colour red)))", /unknown slot attribute colour/, "deftemplate a"],
    ["(deftemplate a (slot x) (slot x))", /declared twice/, "deftemplate a"],
    ["(defrule r (declare (salience high)) => )", /salience must be an integer/, "defrule r"],
    ["(defrule r (declare (salience 20000)) => )", /out of range/, "defrule r"],
    ["(defrule r (not (a) (b)) => )", /exactly one/, "defrule r"],
    ["(defrule r ?f (a) => )", /expected <-/, "defrule r"],
    ["(defrule r (a ?x&) => )", undefined, "defrule r"],
    ["(frobnicate x)", /unknown construct/, "frobnicate x"],
    ["(deffunction f (?a ?a) ?a)", /given twice/, "deffunction f"]
  ])("rejects %s", (text, message, construct) => {
    const err = loadError(text)
    expect(["parse", "compile"]).toContain(err.reason)
    if (message !== undefined) expect(err.message).toMatch(message)
    expect(err.construct).toBe(construct)
    expect(err.line).toBeGreaterThanOrEqual(1)
    expect(err.column).toBeGreaterThanOrEqual(1)
    expect(err.fix.length).toBeGreaterThan(0)
  })
})

describe("compile errors (load)", () => {
  it("names an unknown function with its position", () => {
    const err = loadError(`(defrule r\n  =>\n  (frob 1 2))`)
    expect(err.reason).toBe("compile")
    expect(err.message).toBe("unknown function frob")
    expect([err.line, err.column, err.construct]).toEqual([3, 4, "defrule r"])
  })

  it("names an unbound variable on the RHS", () => {
    const err = loadError(`(deftemplate a (slot x))\n(defrule r (a (x ?x)) => (printout t ?y crlf))`)
    expect(err.reason).toBe("unbound-variable")
    expect(err.message).toMatch(/\?y/)
    expect([err.line, err.column]).toEqual([2, 38])
  })

  it("names an unknown template used with slot syntax", () => {
    const err = loadError(`(defrule r (nodes-id (id n1)) => )`)
    expect(err.reason).toBe("unknown-template")
    expect(err.message).toBe("unknown template nodes-id")
    expect([err.line, err.column]).toEqual([1, 13])
  })

  it("names an unknown template in an RHS assert", () => {
    const err = loadError(`(defrule r => (assert (stargraph_action (kind goto))))`)
    expect(err.reason).toBe("unknown-template")
  })

  it("rejects unknown slots, unbound pattern variables and bad arity", () => {
    expect(loadError(`(deftemplate a (slot x)) (defrule r (a (y 1)) => )`).message).toMatch(/no slot y/)
    expect(loadError(`(deftemplate a (slot x)) (defrule r (a (x ?x&:(> ?x ?z))) => )`).reason).toBe("unbound-variable")
    expect(loadError(`(defrule r => (printout t (+ 1) crlf))`).message).toMatch(/expects at least 2/)
    expect(loadError(`(defrule r => (printout t (str-cat) crlf))`).message).toMatch(/expects at least 1/)
  })

  it("rejects literal slot values that violate the template's constraints (type error)", () => {
    const err = loadError(`(deftemplate a (slot x (type INTEGER))) (defrule r => (assert (a (x 1.5))))`)
    expect(err.reason).toBe("type")
    expect(err.message).toMatch(/allowed types/)
    expect(loadError(`(deftemplate a (slot s (allowed-symbols p q))) (deffacts f (a (s z)))`).reason).toBe("type")
  })

  it("requires ?NONE slots in literal facts", () => {
    expect(loadError(`(deftemplate a (slot id (default ?NONE))) (deffacts f (a))`).message).toMatch(/requires a value/)
  })

  it("rejects rules defined twice", () => {
    expect(loadError(`(defrule r => ) (defrule r => )`).message).toMatch(/already defined/)
  })
})

describe("parsePatterns", () => {
  it("parses a bare left-hand side", () => {
    const r = parsePatterns(`?n <- (node-id (id node_b)) (not (done))`)
    const ces = Either.getOrThrow(r)
    expect(ces.map((c) => c.kind)).toEqual(["pattern", "not"])
    expect(ces[0]!.kind === "pattern" && ces[0]!.binding).toBe("n")
  })
})
