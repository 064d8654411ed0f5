import * as Either from "effect/Either"
import { describe, expect, it } from "vitest"
import { bool, str, sym, int } from "../../src/fathom/clips/index.js"
import { engineWith, evalPrint, loadError } from "./helpers.js"

describe("built-in functions", () => {
  it.each([
    // comparison
    ["(eq a a)", "TRUE"],
    ["(eq 1 1.0)", "FALSE"],
    ['(eq "a" a)', "FALSE"],
    ["(eq a a b)", "FALSE"],
    ["(neq a b c)", "TRUE"],
    ["(neq a b a)", "FALSE"],
    ["(= 1 1.0)", "TRUE"],
    ["(<> 1 2)", "TRUE"],
    ["(< 1 2 3)", "TRUE"],
    ["(< 1 3 2)", "FALSE"],
    ["(> 3 2 1)", "TRUE"],
    ["(<= 1 1 2)", "TRUE"],
    ["(>= 2 3)", "FALSE"],
    // arithmetic
    ["(+ 1 2)", "3"],
    ["(+ 1 2.0)", "3.0"],
    ["(- 10 3 2)", "5"],
    ["(* 2 3.5)", "7.0"],
    ["(/ 7 2)", "3.5"],
    ["(/ 4 2)", "2.0"],
    ["(div 7 2)", "3"],
    ["(div -7 2)", "-3"],
    ["(mod 7 3)", "1"],
    ["(mod -7 3)", "-1"],
    ["(mod 7.5 2)", "1.5"],
    ["(** 2 10)", "1024.0"],
    ["(abs -4)", "4"],
    ["(abs -4.5)", "4.5"],
    ["(min 3 1 2)", "1"],
    ["(max 3 1.5)", "3"],
    ["(max 1 2.0)", "2.0"],
    ["(integer 4.9)", "4"],
    ["(integer -4.9)", "-4"],
    ["(float 3)", "3.0"],
    ["(round 2.5)", "2"],
    ["(sqrt 16)", "4.0"],
    // strings
    ['(str-cat "a" b 1 2.5)', "ab12.5"],
    ["(sym-cat x - 1)", "x-1"],
    ['(str-length "héllo")', "5"],
    ['(str-index "ll" "hello")', "3"],
    ['(str-index "z" "hello")', "FALSE"],
    ['(sub-string 2 4 "hello")', "ell"],
    ['(sub-string 4 2 "hello")', ""],
    ['(upcase "MiXed")', "MIXED"],
    ["(lowcase SYM)", "sym"],
    // multifields
    ["(create$ a (create$ b c) 1)", "(a b c 1)"],
    ["(nth$ 2 (create$ a b c))", "b"],
    ["(member$ c (create$ a b c))", "3"],
    ["(member$ z (create$ a))", "FALSE"],
    ["(length$ (create$ 1 2 3))", "3"],
    ["(first$ (create$ x y z))", "(x)"],
    ["(rest$ (create$ x y z))", "(y z)"],
    ["(subseq$ (create$ a b c d) 2 3)", "(b c)"],
    ["(create$)", "()"],
    // predicates and logic
    ["(symbolp a)", "TRUE"],
    ['(stringp "a")', "TRUE"],
    ["(numberp 1.5)", "TRUE"],
    ["(integerp 1.0)", "FALSE"],
    ["(floatp 1.0)", "TRUE"],
    ['(lexemep "x")', "TRUE"],
    ["(lexemep 1)", "FALSE"],
    ["(multifieldp (create$ a))", "TRUE"],
    ["(and TRUE 1)", "TRUE"],
    ["(and TRUE FALSE)", "FALSE"],
    ["(or FALSE x)", "TRUE"],
    ["(not FALSE)", "TRUE"],
    ["(not 0)", "FALSE"]
  ])("%s prints %s", (expr, expected) => {
    expect(evalPrint(expr)).toBe(expected)
  })

  it("fails integer division by zero with a runtime RuleError naming the rule", () => {
    const out = evalPrint("(div 1 0)")
    expect(out).toMatch(/^ERROR runtime: attempt to divide by zero in div function \(while firing eval-it\)/)
    expect(evalPrint("(/ 1 0)")).toMatch(/divide by zero/)
    expect(evalPrint("(mod 1 0)")).toMatch(/divide by zero/)
  })

  it("fails a math domain error (CLIPS's EMATHFUN1) instead of answering nan or inf", () => {
    expect(evalPrint("(sqrt -1)")).toMatch(/^ERROR runtime: domain error for sqrt function \(while firing eval-it\)/)
    expect(evalPrint("(** -8 0.5)")).toMatch(/^ERROR runtime: domain error for \*\* function/)
    expect(evalPrint("(** 0 -1)")).toMatch(/^ERROR runtime: domain error for \*\* function/)
    expect(evalPrint("(** 0 0)")).toMatch(/^ERROR runtime: domain error for \*\* function/)
    // An overflow is not a domain error: it prints as CLIPS prints it; made an integer, it is CLIPS's least integer.
    expect(evalPrint("(** 10.0 400)")).toBe("inf.0")
    expect(evalPrint('(str-cat (round (** 10.0 400)) " " (integer (** 10.0 400)))')).toBe("-9223372036854775808 -9223372036854775808")
  })

  it("reports type errors at run time", () => {
    expect(evalPrint("(+ (sym-cat a) 1)")).toMatch(/ERROR runtime: function \+ expected argument #1 to be of type integer or float/)
    expect(evalPrint("(str-cat (create$ a))")).toMatch(/ERROR runtime/)
  })

  it("refuses at load a literal argument a numeric function cannot take, as CLIPS does ([ARGACCES5])", () => {
    expect(loadError('(defrule r (x ?s) (test (> ?s "10")) =>)')).toMatchObject({ reason: "type", message: expect.stringMatching(/function > expected argument #2 to be of type integer or float, got "10"/) })
    expect(loadError("(defrule r => (printout t (+ 1 a)))").message).toMatch(/function \+ expected argument #2 to be of type integer or float, got a/)
    expect(loadError("(defrule r => (printout t (evenp 3.0)))").message).toMatch(/function evenp expected argument #1 to be of type integer, got 3\.0/)
  })

  it("fathom-matches searches with a JS regular expression (like Python re.search)", () => {
    expect(evalPrint('(fathom-matches "my ssn is 123-45-6789" "[0-9]{3}-[0-9]{2}-[0-9]{4}")')).toBe("TRUE")
    expect(evalPrint('(fathom-matches "no number" "[0-9]{3}")')).toBe("FALSE")
    expect(evalPrint('(fathom-matches bob@example.com "^[a-z]+@")')).toBe("TRUE")
    expect(evalPrint('(fathom-matches "x" "(unclosed")')).toMatch(/ERROR runtime: fathom-matches: invalid regular expression/)
  })

  it("runs the safety_pii pack with fathom-matches", () => {
    const e = engineWith(`
      (deftemplate stargraph.evidence (slot run_id) (slot step) (slot text))
      (deftemplate bosun.violation (slot kind) (slot severity) (slot run_id) (slot reason))
      (defrule pii-ssn (stargraph.evidence (run_id ?r) (text ?t&:(fathom-matches ?t "[0-9]{3}-[0-9]{2}-[0-9]{4}")))
        => (assert (bosun.violation (kind "pii-ssn") (severity "halt") (run_id ?r) (reason "ssn pattern matched"))))
      (defrule pii-email (stargraph.evidence (run_id ?r) (text ?t&:(fathom-matches ?t "[A-Za-z0-9._+-]+@[A-Za-z0-9.-]+\\\\.[A-Za-z]{2,}")))
        => (assert (bosun.violation (kind "pii-email") (severity "warn") (run_id ?r) (reason "email pattern matched"))))`)
    e.assertFact("stargraph.evidence", { run_id: str("r1"), step: int(1), text: str("ssn 123-45-6789, mail a.b@example.org") })
    e.assertFact("stargraph.evidence", { run_id: str("r2"), step: int(2), text: str("clean") })
    Either.getOrThrow(e.run())
    // Both rules are activated by the same fact; the one defined first fires first.
    expect(e.factsOf("bosun.violation").map((f) => f.slots.find(([k]) => k === "kind")![1])).toEqual([str("pii-ssn"), str("pii-email")])
  })

  it("requires host functions to be registered before the rules that call them are loaded", () => {
    const { makeEngine, parseProgram } = require_()
    const eng = makeEngine()
    const r = eng.load(Either.getOrThrow(parseProgram(`(defrule go (edge ?t&:(edge-ok ?t)) => )`)))
    expect(Either.isLeft(r) && r.left.message).toBe("unknown function edge-ok")
  })

  it("resolves host functions registered before load", () => {
    const e2 = (() => {
      const { makeEngine, parseProgram } = require_()
      const eng = makeEngine()
      eng.registerFunction("edge-ok", (args) => bool(args[0]!.type === "SYMBOL" && args[0]!.value !== "blocked"))
      Either.getOrThrow(eng.load(Either.getOrThrow(parseProgram(`(deftemplate edge (slot to))\n(defrule go (edge (to ?t&:(edge-ok ?t))) => (printout t "go " ?t crlf))`))))
      eng.reset()
      return eng
    })()
    e2.assertFact("edge", { to: sym("b") })
    e2.assertFact("edge", { to: sym("blocked") })
    Either.getOrThrow(e2.run())
    expect(e2.output()).toBe("go b\n")
    // Re-registering swaps the implementation for already-compiled rules.
    e2.registerFunction("edge-ok", () => bool(true))
    e2.assertFact("edge", { to: sym("c") })
    Either.getOrThrow(e2.run())
    expect(e2.output()).toBe("go c\n")
  })

  it("turns a throwing host function into a runtime RuleError", () => {
    const { makeEngine, parseProgram } = require_()
    const eng = makeEngine()
    eng.registerFunction("boom", () => {
      throw new Error("bad state")
    })
    Either.getOrThrow(eng.load(Either.getOrThrow(parseProgram(`(defrule r => (printout t (boom) crlf))`))))
    eng.reset()
    const r = eng.run()
    expect(Either.isLeft(r) && r.left.reason).toBe("runtime")
    expect(Either.isLeft(r) && r.left.message).toMatch(/host function boom failed: bad state/)
  })
})

import * as Clips from "../../src/fathom/clips/index.js"
const require_ = () => Clips
