/**
 * Rule engine benchmark (Fathom CLIPS dialect). Prints JSON.
 *
 * A "step" mirrors what the Stargraph run loop does between nodes: retract the previous
 * 21 state facts (one `(node-id (id X))` and 20 mirror facts `(field_k (value V) (_origin ..)
 * (_source ..) (_run_id ..) (_step ..) (_confidence ..) (_timestamp ..))`), assert 21 new
 * ones, run to quiescence, then collect and retract the `stargraph_action` facts the rules
 * asserted. Measured with 10, 100 and 1,000 routing rules (most shaped
 * `(node-id (id n_k)) (field_j (value "v")) => (assert (stargraph_action (kind goto) (target "n_m")))`,
 * some with predicate constraints, `test` CEs and joins), and again with 1,000 unrelated
 * facts in working memory.
 *
 *   npx tsx bench/rules.ts [--steps 5000] [--warmup 1000] [--rules 10,100,1000]
 */
import * as Either from "effect/Either"
import { compile, int, makeEngine, parseProgram, str, sym, type Engine, type Value } from "../src/fathom/clips/index.js"

const args = new Map<string, string>()
for (let i = 2; i < process.argv.length; i += 2) args.set(process.argv[i]!.replace(/^--/, ""), process.argv[i + 1] ?? "")
const STEPS = Number(args.get("steps") ?? 5000)
const WARMUP = Number(args.get("warmup") ?? 1000)
const RULE_COUNTS = (args.get("rules") ?? "10,100,1000").split(",").map(Number)
const LOAD_COUNTS = (args.get("load") ?? "10,100,1000,10000").split(",").map(Number)
const ONLY = new Set((args.get("only") ?? "load,engines,step").split(","))
const FIELDS = 20
const NODES = 50
const VALUES = 5

const ACTION_TEMPLATE = `(deftemplate stargraph_action
  (slot kind (type SYMBOL) (allowed-symbols goto parallel halt retry assert retract interrupt))
  (slot target (type STRING) (default ""))
  (slot reason (type STRING) (default ""))
  (slot rule_id (type STRING) (default ""))
  (slot step (type INTEGER) (default 0))
  (multislot targets (type STRING))
  (slot join (type STRING) (default ""))
  (slot strategy (type SYMBOL) (allowed-symbols all any race quorum) (default all))
  (slot backoff_ms (type INTEGER) (default 0))
  (slot fact (type STRING) (default ""))
  (slot slots (type STRING) (default ""))
  (slot pattern (type STRING) (default ""))
  (slot prompt (type STRING) (default ""))
  (slot interrupt_payload (type STRING) (default ""))
  (slot requested_capability (type STRING) (default ""))
  (slot timeout (type STRING) (default ""))
  (slot on_timeout (type STRING) (default "halt")))`

/**
 * `rules` routing rules. With `matching = "scaled"` the rule set covers more node/field/value
 * combinations as it grows (more rules fire); with `matching = "fixed"` only the first 100
 * rules can ever match and the rest route nodes that never occur (pure non-matching load).
 */
const program_ = (rules: number, matching: "scaled" | "fixed"): string => {
  const out: Array<string> = [ACTION_TEMPLATE, "(deftemplate node-id (slot id))", "(deftemplate noise (slot id) (slot payload))"]
  for (let k = 0; k < FIELDS; k++) {
    out.push(`(deftemplate field_${k} (slot value) (slot _origin) (slot _source) (slot _run_id) (slot _step) (slot _confidence) (slot _timestamp))`)
  }
  for (let r = 0; r < rules; r++) {
    const node = matching === "fixed" && r >= 100 ? `idle_${r}` : `n_${r % NODES}`
    const j = r % FIELDS
    const v = `v${Math.floor(r / NODES) % VALUES}`
    const target = `n_${(r + 1) % NODES}`
    const then = `(assert (stargraph_action (kind goto) (target "${target}") (rule_id "r${r}")))`
    switch (r % 10) {
      case 7: // predicate constraint
        out.push(`(defrule r${r} (node-id (id ${node})) (field_${j} (value ?v&:(neq ?v "${v}"))) => ${then})`)
        break
      case 8: // test CE on a bound value
        out.push(`(defrule r${r} (node-id (id ${node})) (field_${j} (value ?v) (_step ?s)) (test (> ?s 0)) => ${then})`)
        break
      case 9: // join across two mirror facts
        out.push(`(defrule r${r} (node-id (id ${node})) (field_${j} (value ?v)) (field_${(j + 1) % FIELDS} (value ?v)) => ${then})`)
        break
      default:
        out.push(`(defrule r${r} (node-id (id ${node})) (field_${j} (value "${v}")) => ${then})`)
    }
  }
  return out.join("\n")
}

const load = (rules: number, matching: "scaled" | "fixed"): Engine => {
  const e = makeEngine()
  const p = parseProgram(program_(rules, matching))
  if (Either.isLeft(p)) throw new Error(p.left.message)
  const l = e.load(p.right)
  if (Either.isLeft(l)) throw new Error(l.left.message)
  e.reset()
  return e
}

/** Deterministic pseudo-random sequence (no Math.random). */
const lcg = (seed: number) => {
  let s = seed >>> 0
  return () => (s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 4294967296
}

interface Measured {
  readonly rules: number
  readonly matching: "scaled" | "fixed"
  readonly unrelatedFacts: number
  readonly steps: number
  readonly medianUs: number
  readonly p95Us: number
  readonly meanUs: number
  readonly firingsPerStep: number
}

const measure = (rules: number, unrelated: number, matching: "scaled" | "fixed"): Measured => {
  const e = load(rules, matching)
  for (let i = 0; i < unrelated; i++) e.assertFact("noise", { id: int(i), payload: str(`payload-${i}`) })
  const next = lcg(rules * 31 + unrelated)
  let live: Array<number> = []
  const runId = str("run-bench")
  const origin = sym("mirror")
  const source = sym("state")
  const times: Array<number> = []
  let firings = 0
  const step = (n: number): void => {
    for (const id of live) e.retract(id)
    live = []
    const node = `n_${Math.floor(next() * NODES)}`
    const f = e.assertFact("node-id", { id: sym(node) })
    if (Either.isRight(f) && f.right !== undefined) live.push(f.right.id)
    for (let k = 0; k < FIELDS; k++) {
      const slots: Record<string, Value> = {
        value: str(`v${Math.floor(next() * VALUES)}`),
        _origin: origin,
        _source: source,
        _run_id: runId,
        _step: int(n),
        _confidence: { type: "FLOAT", value: 1.0 },
        _timestamp: str("2025-01-01T00:00:00Z")
      }
      const r = e.assertFact(`field_${k}`, slots)
      if (Either.isRight(r) && r.right !== undefined) live.push(r.right.id)
    }
    const run = e.run()
    if (Either.isLeft(run)) throw new Error(run.left.message)
    firings += run.right.firings.length
    for (const a of e.factsOf("stargraph_action")) e.retract(a.id)
  }
  for (let i = 0; i < WARMUP; i++) step(i + 1)
  firings = 0
  for (let i = 0; i < STEPS; i++) {
    const t0 = process.hrtime.bigint()
    step(WARMUP + i + 1)
    times.push(Number(process.hrtime.bigint() - t0) / 1000)
  }
  times.sort((a, b) => a - b)
  const q = (p: number) => times[Math.min(times.length - 1, Math.floor(p * times.length))]!
  const round = (x: number) => Math.round(x * 10) / 10
  return {
    rules,
    matching,
    unrelatedFacts: unrelated,
    steps: STEPS,
    medianUs: round(q(0.5)),
    p95Us: round(q(0.95)),
    meanUs: round(times.reduce((a, b) => a + b, 0) / times.length),
    firingsPerStep: round(firings / STEPS)
  }
}

// ---------------------------------------------------------------------------
// Loading
// ---------------------------------------------------------------------------

/** Stargraph's edge rules for a linear graph of `n` nodes (plus its templates). */
const edgeProgram = (n: number): string => {
  const out: Array<string> = [ACTION_TEMPLATE, "(deftemplate node-id (slot id))"]
  for (let k = 0; k < 3; k++) out.push(`(deftemplate field_${k} (slot value) (slot _origin) (slot _source) (slot _run_id) (slot _step) (slot _confidence) (slot _timestamp))`)
  for (let i = 0; i < n; i++) {
    out.push(`(defrule edges-from-n${i} (node-id (id n${i})) => (assert (stargraph_action (kind goto) (target "n${i + 1}") (rule_id "edges-from-n${i}"))))`)
  }
  return out.join("\n")
}

/** `n` mixed rules: shared `node-id` prefixes, joins, `not`, `test`, predicates. */
const mixedProgram = (n: number): string => {
  const out: Array<string> = [ACTION_TEMPLATE, "(deftemplate node-id (slot id))"]
  for (let k = 0; k < FIELDS; k++) out.push(`(deftemplate field_${k} (slot value) (slot _origin) (slot _source) (slot _run_id) (slot _step) (slot _confidence) (slot _timestamp))`)
  for (let r = 0; r < n; r++) {
    const node = `n_${r % NODES}`
    const j = r % FIELDS
    const v = `v${r % VALUES}`
    const then = `(assert (stargraph_action (kind goto) (target "n_${(r + 1) % NODES}") (rule_id "m${r}")))`
    switch (r % 6) {
      case 0:
        out.push(`(defrule m${r} (node-id (id ${node})) (field_${j} (value "${v}")) => ${then})`)
        break
      case 1:
        out.push(`(defrule m${r} (node-id (id ${node})) (not (field_${j} (value "${v}"))) => ${then})`)
        break
      case 2:
        out.push(`(defrule m${r} (node-id (id ${node})) (field_${j} (value ?v) (_step ?s)) (test (> ?s ${r % 7})) => ${then})`)
        break
      case 3:
        out.push(`(defrule m${r} (node-id (id ${node})) (field_${j} (value ?v)) (field_${(j + 1) % FIELDS} (value ?v)) => ${then})`)
        break
      case 4:
        out.push(`(defrule m${r} (node-id (id ${node})) (field_${j} (value ?v&:(neq ?v "${v}"))) (not (field_${(j + 3) % FIELDS} (value ?v))) => ${then})`)
        break
      default:
        out.push(`(defrule m${r} ?f <- (node-id (id ?n&${node}|n_${(r + 7) % NODES})) (field_${j} (_run_id ?run)) (field_${(j + 2) % FIELDS} (_run_id ?run) (value ~"${v}")) => ${then})`)
    }
  }
  return out.join("\n")
}

const round1 = (x: number): number => Math.round(x * 10) / 10
const round2 = (x: number): number => Math.round(x * 100) / 100

const median = (xs: Array<number>): number => {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.floor(s.length / 2)]!
}

interface LoadMeasured {
  readonly program: "edges" | "mixed"
  readonly rules: number
  readonly parseMs: number
  /** makeEngine() + load(). */
  readonly loadMs: number
  /** The first reset() after loading. */
  readonly firstResetUs: number
  /** Later reset()s (median). */
  readonly resetUs: number
}

const measureLoad = (kind: "edges" | "mixed", n: number): LoadMeasured => {
  const text = kind === "edges" ? edgeProgram(n) : mixedProgram(n)
  const reps = n <= 100 ? 20 : n <= 1000 ? 3 : 1
  const parses: Array<number> = []
  const loads: Array<number> = []
  const firstResets: Array<number> = []
  let e: Engine | null = null
  for (let i = 0; i < reps; i++) {
    let t = performance.now()
    const p = parseProgram(text)
    parses.push(performance.now() - t)
    if (Either.isLeft(p)) throw new Error(p.left.message)
    t = performance.now()
    e = makeEngine()
    const l = e.load(p.right)
    loads.push(performance.now() - t)
    if (Either.isLeft(l)) throw new Error(l.left.message)
    t = performance.now()
    e.reset()
    firstResets.push((performance.now() - t) * 1000)
  }
  const resets: Array<number> = []
  for (let i = 0; i < 200; i++) {
    const t = performance.now()
    e!.reset()
    resets.push((performance.now() - t) * 1000)
  }
  return { program: kind, rules: n, parseMs: round2(median(parses)), loadMs: round2(median(loads)), firstResetUs: round1(median(firstResets)), resetUs: round1(median(resets)) }
}

// ---------------------------------------------------------------------------
// Engines per run: instantiate, reset, snapshot, restore
// ---------------------------------------------------------------------------

interface EnginesMeasured {
  readonly program: "edges" | "scaled"
  readonly rules: number
  /** compile(programs) (parsing excluded). */
  readonly compileMs: number
  /** compiled.instantiate(). */
  readonly instantiateUs: number
  /** instantiate() + reset(): a fresh engine for a new run. */
  readonly instantiateResetUs: number
  /** reset() of an engine that ran steps (the pooled-engine path). */
  readonly pooledResetUs: number
  /** instantiate() + reset() + a first step (asserting the 24 facts below, run): a fresh engine fills its memories lazily. */
  readonly instantiateFirstStepUs: number
  /** reset() + the same step on a pooled engine. */
  readonly pooledFirstStepUs: number
  /** Facts in working memory for the next three figures. */
  readonly facts: number
  readonly snapshotUs: number
  /** instantiate() + restore(snapshot): a fresh engine resuming a run. */
  readonly instantiateRestoreUs: number
  /** reset() + restore(snapshot) of a pooled engine that ran steps. */
  readonly pooledResetRestoreUs: number
}

/** Median µs of `f` over `n` runs; `setup` runs before each, unmeasured. */
const sample = (n: number, f: () => void, setup?: () => void): number => {
  const times: Array<number> = []
  for (let i = 0; i < n; i++) {
    setup?.()
    const t = process.hrtime.bigint()
    f()
    times.push(Number(process.hrtime.bigint() - t) / 1000)
  }
  return round1(median(times))
}

/** Working memory of a Stargraph step: node-id, mirror facts and a few others (25 facts with initial-fact). */
const fillStep = (e: Engine, program: "edges" | "scaled", step: number): void => {
  const next = lcg(7 + step)
  const fields = program === "edges" ? 3 : FIELDS
  e.assertFact("node-id", { id: sym(program === "edges" ? `n${step % 10}` : `n_${Math.floor(next() * NODES)}`) })
  for (let k = 0; k < 20; k++) {
    e.assertFact(`field_${k % fields}`, { value: str(`v${k}-${Math.floor(next() * VALUES)}`), _origin: sym("mirror"), _source: sym("state"), _run_id: str("run-bench"), _step: int(step), _confidence: { type: "FLOAT", value: 1.0 }, _timestamp: str("2025-01-01T00:00:00Z") })
  }
  for (let k = 0; k < 3; k++) e.assertOrdered("stargraph-note", [int(k), str(`note-${k}`)])
}

const measureEngines = (program: "edges" | "scaled", rules: number): EnginesMeasured => {
  const text = program === "edges" ? edgeProgram(rules) : program_(rules, "scaled")
  const parsed = parseProgram(text)
  if (Either.isLeft(parsed)) throw new Error(parsed.left.message)
  const t = performance.now()
  const c = compile(parsed.right)
  const compileMs = round2(performance.now() - t)
  if (Either.isLeft(c)) throw new Error(c.left.message)
  const compiled = c.right
  // About 0.2 s per figure (fewer repetitions when making an engine is slow).
  const once = sample(3, () => compiled.instantiate().reset())
  const reps = Math.max(10, Math.min(2000, Math.floor(200_000 / Math.max(1, once))))
  const instantiateUs = sample(reps, () => void compiled.instantiate())
  const instantiateResetUs = sample(reps, () => compiled.instantiate().reset())
  // A pooled engine that ran a few steps.
  const pooled = compiled.instantiate()
  pooled.reset()
  for (let i = 0; i < 5; i++) {
    fillStep(pooled, program, i)
    pooled.run()
  }
  const pooledResetUs = sample(
    reps,
    () => pooled.reset(),
    () => fillStep(pooled, program, 1)
  )
  const stepOf = (e: Engine): void => {
    e.reset()
    fillStep(e, program, 1)
    e.run()
  }
  const instantiateFirstStepUs = sample(reps, () => stepOf(compiled.instantiate()))
  const pooledFirstStepUs = sample(reps, () => stepOf(pooled))
  const e = compiled.instantiate()
  e.reset()
  fillStep(e, program, 1)
  const snap = JSON.parse(JSON.stringify(e.snapshot())) as ReturnType<Engine["snapshot"]>
  const snapshotUs = sample(reps * 2, () => void e.snapshot())
  const instantiateRestoreUs = sample(reps, () => {
    const r = compiled.instantiate().restore(snap)
    if (Either.isLeft(r)) throw new Error(r.left.message)
  })
  const pooledResetRestoreUs = sample(
    reps,
    () => {
      pooled.reset()
      pooled.restore(snap)
    },
    () => fillStep(pooled, program, 2)
  )
  return {
    program,
    rules,
    compileMs,
    instantiateUs,
    instantiateResetUs,
    pooledResetUs,
    instantiateFirstStepUs,
    pooledFirstStepUs,
    facts: e.facts().length,
    snapshotUs,
    instantiateRestoreUs,
    pooledResetRestoreUs
  }
}

const print = args.get("print")
if (print !== undefined) {
  const [kind, n] = print.split(":")
  console.log(kind === "mixed" ? mixedProgram(Number(n)) : kind === "scaled" ? program_(Number(n), "scaled") : edgeProgram(Number(n)))
  process.exit(0)
}

const report: Record<string, unknown> = { bench: "fathom-clips-rules", node: process.version, stepFacts: FIELDS + 1 }
if (ONLY.has("load")) {
  measureLoad("edges", 100) // warm-up
  const loads: Array<LoadMeasured> = []
  for (const n of LOAD_COUNTS) loads.push(measureLoad("edges", n))
  loads.push(measureLoad("mixed", 1000))
  report.load = loads
}
if (ONLY.has("engines")) {
  measureEngines("scaled", 100) // warm-up
  report.engines = [measureEngines("edges", 10), measureEngines("edges", 100), measureEngines("scaled", 100), measureEngines("scaled", 1000), measureEngines("edges", 10000)]
}
if (ONLY.has("step")) {
  // A discarded pass first, so the first measured configuration does not pay for JIT warm-up.
  measure(100, 0, "scaled")
  const results: Array<Measured> = []
  for (const n of RULE_COUNTS) results.push(measure(n, 0, "scaled"))
  for (const n of RULE_COUNTS) results.push(measure(n, 1000, "scaled"))
  for (const n of RULE_COUNTS) if (n >= 100) results.push(measure(n, 0, "fixed"))
  report.results = results
}
console.log(JSON.stringify(report, null, 2))
