import * as Either from "effect/Either"
import { describe, expect, it } from "vitest"
import { float, int, makeEngine, multifield, parseProgram, str, sym, type Engine, type Snapshot } from "../../src/fathom/clips/index.js"
import { generateCase } from "./generator.js"
import { factsListing, runScript, scriptCommands } from "./harness.js"
import { engineWith, loadError, runOut } from "./helpers.js"

const TEMPLATES = `
(deftemplate a (slot x) (slot y))
(deftemplate b (slot x))
(deftemplate c (slot x))`

describe("conditional elements", () => {
  it("joins variables across patterns", () => {
    const e = engineWith(`${TEMPLATES}\n(defrule j (a (x ?v)) (b (x ?v)) => (printout t "j " ?v crlf))`)
    e.assertFact("a", { x: int(1) })
    e.assertFact("a", { x: int(2) })
    e.assertFact("b", { x: int(2) })
    expect(runOut(e)).toBe("j 2\n")
  })

  it("not: fires when no match, retracts the activation when one appears", () => {
    const e = engineWith(`${TEMPLATES}\n(defrule n (a (x ?v)) (not (b (x ?v))) => (printout t "n " ?v crlf))`)
    e.assertFact("a", { x: int(1) })
    expect(e.agenda().map((a) => a.factIds)).toEqual([[1, null]])
    const b = Either.getOrThrow(e.assertFact("b", { x: int(1) }))!
    expect(e.agenda()).toEqual([])
    e.retract(b.id)
    expect(runOut(e)).toBe("n 1\n")
  })

  it("exists fires once however many facts support it", () => {
    const e = engineWith(`${TEMPLATES}\n(defrule x (exists (b (x ?))) => (printout t "some b" crlf))`)
    for (let i = 0; i < 3; i++) e.assertFact("b", { x: int(i) })
    expect(runOut(e)).toBe("some b\n")
  })

  it("forall fires when every a has a matching b", () => {
    const e = engineWith(`${TEMPLATES}\n(defrule all (forall (a (x ?v)) (b (x ?v))) => (printout t "all" crlf))`)
    e.assertFact("a", { x: int(1) })
    expect(runOut(e)).toBe("")
    e.assertFact("b", { x: int(1) })
    expect(runOut(e)).toBe("all\n")
  })

  it("or splits into alternative rules with the same name", () => {
    const e = engineWith(`${TEMPLATES}\n(defrule o (or (a (x ?v)) (b (x ?v))) => (printout t "o " ?v crlf))`)
    e.assertFact("a", { x: int(1) })
    e.assertFact("b", { x: int(2) })
    expect(runOut(e)).toBe("o 2\no 1\n")
    expect(e.rules()).toEqual(["o"])
  })

  it("test CEs and predicate / return-value constraints", () => {
    const e = engineWith(`${TEMPLATES}
      (defrule t (a (x ?x) (y ?y&:(> ?y ?x))) (test (< ?x 10)) => (printout t "t " ?x crlf))
      (defrule rv (a (x ?x) (y =(* ?x 2))) => (printout t "rv " ?x crlf))`)
    e.assertFact("a", { x: int(2), y: int(4) })
    e.assertFact("a", { x: int(20), y: int(40) })
    e.assertFact("a", { x: int(3), y: int(1) })
    // rv's pattern node is newer, so f-1 activates rv before t: t sits on top of rv for f-1.
    expect(runOut(e)).toBe("rv 20\nt 2\nrv 2\n")
  })

  it("binds fact addresses for retract and modify (modify gives a new index)", () => {
    const e = engineWith(`(deftemplate job (slot s))\n(defrule go ?j <- (job (s new)) => (modify ?j (s run)))`)
    e.assertFact("job", { s: sym("new") })
    runOut(e)
    expect(e.facts().map((f) => [f.id, f.template])).toEqual([
      [0, "initial-fact"],
      [2, "job"]
    ])
  })

  it("multifield wildcards and variables in ordered facts", () => {
    const e = engineWith(`(defrule m (list $?before b $?after) => (printout t $?before "|" $?after crlf))`)
    Either.getOrThrow(e.assertOrdered("list", [sym("a"), sym("b"), sym("c"), sym("b")]))
    expect(runOut(e)).toBe("(a)|(c b)\n(a b c)|()\n")
  })
})

describe("agenda ordering (depth strategy)", () => {
  it("orders by salience, then newest activation first", () => {
    const e = engineWith(`${TEMPLATES}
      (defrule low (declare (salience -5)) (a) => (printout t "low" crlf))
      (defrule first (a (x ?x)) => (printout t "first " ?x crlf))
      (defrule second (a (x ?x)) => (printout t "second " ?x crlf))
      (defrule high (declare (salience 5)) (a) => (printout t "high" crlf))`)
    e.assertFact("a", { x: int(1) })
    e.assertFact("a", { x: int(2) })
    expect(e.agenda().map((a) => `${a.rule}:${a.factIds.join(",")}`)).toEqual([
      "high:2",
      "high:1",
      "first:2",
      "second:2",
      "first:1",
      "second:1",
      "low:2",
      "low:1"
    ])
  })

  it("refraction: an activation fires once; retract and re-assert makes a new one", () => {
    const e = engineWith(`${TEMPLATES}\n(defrule r (a (x ?x)) => (printout t "r " ?x crlf))`)
    const f = Either.getOrThrow(e.assertFact("a", { x: int(1) }))!
    expect(runOut(e)).toBe("r 1\n")
    expect(runOut(e)).toBe("")
    e.retract(f.id)
    e.assertFact("a", { x: int(1) })
    expect(runOut(e)).toBe("r 1\n")
  })

  it("refuses duplicate facts without using a fact index", () => {
    const e = engineWith(TEMPLATES)
    const f1 = Either.getOrThrow(e.assertFact("a", { x: int(1) }))
    expect(Either.getOrThrow(e.assertFact("a", { x: int(1) }))).toBeUndefined()
    expect(Either.getOrThrow(e.assertFact("a", { x: float(1) }))!.id).toBe(f1!.id + 1)
  })

  it("refuses duplicates however many facts a template has (scanned when few, hashed when many)", () => {
    const e = engineWith(TEMPLATES)
    const ids: Array<number> = []
    const add = (x: number, y: string): number | undefined => Either.getOrThrow(e.assertFact("a", { x: int(x), y: str(y) }))?.id
    const long = (k: number): string => `${"p".repeat(40)}${k}${"s".repeat(40)}` // differs only in the middle
    for (let round = 0; round < 2; round++) {
      for (let k = 0; k < 30; k++) {
        ids.push(add(k, long(k))!)
        expect(add(k, long(k))).toBeUndefined()
        for (let j = 0; j <= k; j += 7) expect(add(j, long(j))).toBeUndefined()
      }
      // retract all but two, then the retracted ones are new again and the kept ones still duplicates
      for (const id of ids.splice(0, 28)) expect(e.retract(id)).toBe(true)
      expect(add(28, long(28))).toBeUndefined()
      expect(add(29, long(29))).toBeUndefined()
      expect(add(3, long(3))).toBeDefined()
      for (const id of ids.splice(0)) e.retract(id)
      e.reset()
    }
    expect(e.factsOf("a")).toEqual([])
  })

  it("reset restarts fact indices at 0 with (initial-fact) and the deffacts", () => {
    const e = engineWith(`${TEMPLATES}\n(deffacts d (a (x 1)) (b (x 2)))`)
    e.assertFact("c", { x: int(9) })
    e.reset()
    expect(e.facts().map((f) => f.id)).toEqual([0, 1, 2])
    expect(e.facts()[0]!.template).toBe("initial-fact")
  })
})

describe("modules and focus", () => {
  const MODS = `
    (defmodule MAIN (export ?ALL))
    (deftemplate MAIN::go (slot to))
    (defmodule A (import MAIN ?ALL))
    (defrule A::ra (go (to a)) => (printout t "A" crlf))
    (defmodule B (import MAIN ?ALL))
    (defrule B::rb (go (to ?x)) => (printout t "B " ?x crlf) (return))
    (defrule B::rb2 (declare (salience -1)) (go (to ?x)) => (printout t "B2 " ?x crlf))
    (defrule MAIN::start (go (to ?)) => (focus A B) (printout t "start" crlf))`

  it("fires the focused modules in stack order; return pops the focus", () => {
    const e = engineWith(MODS)
    e.assertFact("go", { to: sym("a") })
    const r = Either.getOrThrow(e.run())
    expect(e.output()).toBe("start\nA\nB a\n")
    expect(r.firings.map((f) => f.rule)).toEqual(["start", "A::ra", "B::rb"])
    // rb2 stays pending in B, which is no longer on the focus stack
    expect(e.agenda().map((a) => a.rule)).toEqual(["B::rb2"])
  })

  it("module-qualified names and auto-focus", () => {
    const e = engineWith(`
      (defmodule MAIN (export ?ALL))
      (deftemplate alarm (slot level))
      (defmodule SAFETY (import MAIN ?ALL))
      (defrule SAFETY::stop (declare (auto-focus TRUE)) (alarm (level high)) => (printout t "stop" crlf))`)
    e.assertFact("alarm", { level: sym("high") })
    const r = Either.getOrThrow(e.run())
    expect(r.firings).toEqual([{ rule: "SAFETY::stop", factIds: [1] }])
  })

  it("a module-qualified deffunction (as Fathom's compiler writes them) is called by its plain or its qualified name; a clash across modules is refused", () => {
    // The same program prints the same line in CLIPS 6.30.
    const e = engineWith(`
      (defmodule MAIN (export ?ALL))
      (deffunction MAIN::next-of (?n) (if (eq ?n a) then "c" else "b"))
      (defmodule GATE (import MAIN ?ALL) (export ?ALL))
      (deffunction GATE::twice (?x) (* 2 ?x))
      (defrule GATE::r (declare (auto-focus TRUE)) => (printout t (next-of a) " " (MAIN::next-of z) " " (twice 4) " " (GATE::twice 5) crlf))`)
    expect(runOut(e)).toBe("c b 8 10\n")
    expect(loadError("(defmodule A (export ?ALL))\n(deffunction A::f (?x) ?x)\n(defmodule B)\n(deffunction B::f (?x) ?x)")).toMatchObject({
      message: expect.stringContaining("deffunction f is already defined in module A")
    })
    expect(loadError("(deffunction NOPE::f (?x) ?x)").message).toContain("unknown module NOPE")
  })
})

describe("slot constraints in rule patterns", () => {
  const ticket = `(deftemplate ticket (slot priority (allowed-symbols low high)) (slot retries (type INTEGER) (range 0 5)) (multislot owner (cardinality 0 1)))`
  it("a literal its slot refuses can never match: refused at load, as CLIPS does ([CSTRNCHK1])", () => {
    const refused = (pattern: string) => loadError(`${ticket}\n(defrule r ${pattern} => (printout t "never" crlf))`)
    expect(refused("(ticket (priority hgih))")).toMatchObject({ reason: "compile", construct: "defrule r", message: expect.stringMatching(/a literal that can never match: slot priority of ticket: hgih is not one of the allowed values \(low high\)/) })
    expect(refused('(ticket (retries "3"))').message).toMatch(/slot retries of ticket: "3" does not match the allowed types \(INTEGER\)/)
    expect(refused("(ticket (retries 9))").message).toMatch(/slot retries of ticket: 9 is outside the allowed range 0 to 5/)
    expect(refused("(ticket (owner a b))").message).toMatch(/a pattern that can never match: slot owner of ticket holds 0 to 1 fields, and this pattern matches 2/)
    expect(refused("(ticket (owner ?x ?y))").message).toMatch(/holds 0 to 1 fields, and this pattern matches 2/)
    // A variable naming the field does not widen what its literals allow.
    expect(refused("(ticket (priority ?p&hgih))").message).toMatch(/hgih is not one of the allowed values/)
    expect(refused("(ticket (retries ?r&9|10))").message).toMatch(/9 is outside the allowed range 0 to 5/)
    expect(refused("(ticket (priority hgih|lwo))").message).toMatch(/hgih is not one of the allowed values/)
    // Any alternative the slot refuses is refused, as CLIPS does.
    expect(refused("(ticket (priority hgih|high))").message).toMatch(/hgih is not one of the allowed values/)
  })

  it("min and max take two arguments or more, as in CLIPS", () => {
    expect(loadError("(defrule r => (printout t (max 2) crlf))").message).toMatch(/function max expects at least 2 argument\(s\), got 1/)
    expect(loadError("(defrule r => (printout t (min 2) crlf))").message).toMatch(/function min expects/)
  })

  it("patterns that can match load: allowed literals, one allowed alternative, variables, negations, predicates", () => {
    for (const pattern of ["(ticket (priority high))", "(ticket (priority high|low))", "(ticket (priority ?p))", "(ticket (priority ?p&high))", "(ticket (priority ~hgih))", "(ticket (retries ?r&:(> ?r 9)))", "(ticket (owner a))", "(ticket (owner ?x))", "(ticket (owner $?o))", "(ticket (owner ?x $?o))", "(ticket (owner a ?y $?rest))"]) {
      expect(() => engineWith(`${ticket}\n(defrule r ${pattern} =>)`), pattern).not.toThrow()
    }
  })
})

describe("run control", () => {
  it("halt stops the run and reports halted", () => {
    const e = engineWith(`${TEMPLATES}\n(defrule h (a (x ?x)) => (printout t ?x crlf) (halt))`)
    e.assertFact("a", { x: int(1) })
    e.assertFact("a", { x: int(2) })
    const r = Either.getOrThrow(e.run())
    expect(r.halted).toBe(true)
    expect(r.firings.length).toBe(1)
    expect(Either.getOrThrow(e.run()).firings.length).toBe(1)
  })

  it("run(limit) fires at most limit rules", () => {
    const e = engineWith(`(defrule loop ?f <- (n ?x&:(< ?x 100)) => (retract ?f) (assert (n (+ ?x 1))))`)
    e.assertOrdered("n", [int(0)])
    expect(Either.getOrThrow(e.run(10)).firings.length).toBe(10)
  })

  it("fails with reason firing-limit naming the rules that kept firing", () => {
    const e = engineWith(`(defrule spin ?f <- (n ?x) => (retract ?f) (assert (n (+ ?x 1))))\n(defrule idle (never) => )`, { firingLimit: 50 })
    e.assertOrdered("n", [int(0)])
    const r = e.run()
    expect(Either.isLeft(r)).toBe(true)
    if (Either.isLeft(r)) {
      expect(r.left.reason).toBe("firing-limit")
      expect(r.left.message).toMatch(/more than 50 rule firings/)
      expect(r.left.message).toMatch(/spin \(50\)/)
      expect(r.left.construct).toBe("defrule spin")
    }
  })

  it("a runtime error in an action fails the run with the rule's position", () => {
    const e = engineWith(`(deftemplate a (slot x))\n(defrule bad (a (x ?x))\n  =>\n  (printout t (/ ?x 0) crlf))`)
    e.assertFact("a", { x: int(1) })
    const r = e.run()
    expect(Either.isLeft(r) && [r.left.reason, r.left.line, r.left.construct]).toEqual(["runtime", 4, "defrule bad"])
  })
})

describe("API", () => {
  it("assertFact fills defaults and rejects unknown slots, unknown templates and constraint violations", () => {
    const e = engineWith(`(deftemplate stargraph_action (slot kind (type SYMBOL) (allowed-symbols goto halt)) (slot target (type STRING) (default "")) (multislot targets (type STRING)) (slot step (type INTEGER) (default 0)))`)
    const f = Either.getOrThrow(e.assertFact("stargraph_action", { kind: sym("goto") }))!
    expect(f.slots).toEqual([
      ["kind", sym("goto")],
      ["target", str("")],
      ["targets", multifield([])],
      ["step", int(0)]
    ])
    const bad = (slots: Record<string, ReturnType<typeof sym>>, reason: string, message: RegExp) => {
      const r = e.assertFact("stargraph_action", slots)
      expect(Either.isLeft(r) && [r.left.reason, r.left.message.match(message) !== null]).toEqual([reason, true])
    }
    bad({ kind: sym("jump") }, "type", /allowed values/)
    bad({ kind: sym("goto"), target: sym("n1") }, "type", /allowed types/)
    bad({ kind: sym("goto"), colour: sym("red") }, "compile", /no slot colour/)
    const u = e.assertFact("stargraph_actions", {})
    expect(Either.isLeft(u) && u.left.reason).toBe("unknown-template")
  })

  it("assertString parses CLIPS syntax; modify re-asserts with a new index", () => {
    const e = engineWith(`(deftemplate a (slot x) (multislot m))`)
    const f = Either.getOrThrow(e.assertString(`(a (x 1) (m 1 "two" three))`))!
    const g = Either.getOrThrow(e.modify(f.id, { x: int(2) }))!
    expect(g.id).toBe(f.id + 1)
    expect(e.fact(f.id)).toBeUndefined()
    expect(e.factsOf("a").map((x) => x.fields)).toEqual([[int(2), multifield([int(1), str("two"), sym("three")])]])
    expect(Either.isLeft(e.assertString(`(a (x 1)`))).toBe(true)
  })

  it("watch produces CLIPS's trace lines", () => {
    const e = engineWith(`(deftemplate a (slot x))\n(defrule r (a (x ?x)) => )`)
    e.watch("facts", true)
    e.watch("rules", true)
    e.watch("activations", true)
    e.assertFact("a", { x: int(1) })
    const trace = runOut(e)
    e.retract(1)
    expect(trace + e.output()).toBe(["==> f-1     (a (x 1))", "==> Activation 0      r: f-1", "FIRE    1 r: f-1", "<== f-1     (a (x 1))", ""].join("\n"))
  })

  it("output is cleared by each call", () => {
    const e = engineWith(`(defrule p => (printout t "hello" tab "world" crlf))`)
    runOut(e)
    expect(e.output()).toBe("")
  })

  it("load is all or nothing", () => {
    const e = makeEngine()
    const bad = Either.getOrThrow(parseProgram(`(deftemplate ok (slot x))\n(defrule r (ok (x ?x)) => (frob ?x))`))
    const r = e.load(bad)
    expect(Either.isLeft(r) && r.left.message).toBe("unknown function frob")
    // nothing of the failed program stayed: the same template can be defined again
    Either.getOrThrow(e.load(Either.getOrThrow(parseProgram(`(deftemplate ok (slot x))`))))
    expect(e.rules()).toEqual([])
  })

  it("host functions may not change facts while patterns are being matched", () => {
    const e = makeEngine()
    let inner: unknown = null
    e.registerFunction("sneaky", () => {
      inner = e.assertFact("b", { x: int(1) })
      return sym("TRUE")
    })
    Either.getOrThrow(e.load(Either.getOrThrow(parseProgram(`${TEMPLATES}\n(defrule r (a (x ?x&:(sneaky))) => )`))))
    e.reset()
    Either.getOrThrow(e.assertFact("a", { x: int(1) }))
    expect(Either.isLeft(inner as Either.Either<unknown, unknown>)).toBe(true)
    expect(e.factsOf("b")).toEqual([])
  })

  it("rules loaded after facts exist are matched against them (incremental)", () => {
    const e = makeEngine()
    Either.getOrThrow(e.load(Either.getOrThrow(parseProgram(TEMPLATES))))
    e.reset()
    e.assertFact("a", { x: int(1) })
    Either.getOrThrow(e.load(Either.getOrThrow(parseProgram(`(defrule late (a (x ?x)) => (printout t "late " ?x crlf))`))))
    expect(runOut(e)).toBe("late 1\n")
  })
})

// ---------------------------------------------------------------------------
// Snapshot / restore
// ---------------------------------------------------------------------------

const loaded = (constructs: string): Engine => {
  const e = makeEngine()
  Either.getOrThrow(e.load(Either.getOrThrow(parseProgram(constructs))))
  e.reset()
  e.output()
  return e
}

const traced = (e: Engine): Engine => {
  e.watch("facts", true)
  e.watch("rules", true)
  return e
}

describe("snapshot / restore", () => {
  it("round-trips through JSON and keeps fact indices, pending activations and refraction", () => {
    const text = `${TEMPLATES}\n(defrule r (a (x ?x)) => (printout t "r " ?x crlf))\n(defrule s (declare (salience -1)) (a (x ?x)) => (printout t "s " ?x crlf))`
    const e = traced(loaded(text))
    e.assertFact("a", { x: int(1) })
    e.assertFact("a", { x: int(2) })
    runOut(e, 1) // fires r 2; r 1, s 2, s 1 stay pending
    const snap: Snapshot = JSON.parse(JSON.stringify(e.snapshot()))
    expect(snap.agenda.map((a) => `${a.rule}:${a.factIds.join(",")}`)).toEqual(["r:1", "s:2", "s:1"])
    const f = traced(loaded(text))
    Either.getOrThrow(f.restore(snap))
    expect(f.facts().map((x) => x.id)).toEqual([0, 1, 2])
    expect(f.agenda()).toEqual(e.agenda())
    expect(runOut(f)).toBe(runOut(e))
    // the next assert gets the same index in both
    expect(Either.getOrThrow(f.assertFact("b", { x: int(0) }))!.id).toBe(Either.getOrThrow(e.assertFact("b", { x: int(0) }))!.id)
  })

  it("rejects snapshots that do not fit the loaded program", () => {
    const e = loaded(TEMPLATES)
    const bad = { version: 1, facts: [{ id: 1, template: "zzz", slots: {} }], nextFactId: 2, focus: [], agenda: [], globals: {} } as Snapshot
    const r = e.restore(bad)
    expect(Either.isLeft(r) && r.left.reason).toBe("unknown-template")
    expect(Either.isLeft(e.restore({ version: 2 } as unknown as Snapshot))).toBe(true)
  })

  // Continuous engine vs. one torn down and restored at a split point, on random programs.
  it.each(Array.from({ length: 60 }, (_, i) => i + 1))("random program %i behaves the same after restore", (seed) => {
    const c = generateCase(seed)
    const commands = scriptCommands(c.script).filter((f) => !(f.kind === "list" && f.items[0]?.kind === "atom" && f.items[0].token.text === "reset"))
    const split = Math.floor(commands.length / 2)
    const a = traced(loaded(c.constructs))
    runScript(a, commands.slice(0, split))
    a.output()
    const snap = JSON.parse(JSON.stringify(a.snapshot())) as Snapshot
    const b = traced(loaded(c.constructs))
    Either.getOrThrow(b.restore(snap))
    b.output()
    const rest = commands.slice(split)
    const outA = runScript(a, rest) + factsListing(a)
    const outB = runScript(b, rest) + factsListing(b)
    expect(outB).toBe(outA)
  })
})
