/** Small helpers shared by the fathom unit tests. */
import * as Either from "effect/Either"
import { expect } from "vitest"
import type { RuleError } from "../../src/errors.js"
import { makeEngine, parseProgram, type Engine, type EngineOptions } from "../../src/fathom/clips/index.js"

/** Parses and loads `text` into a fresh engine and resets it; fails the test on any error. */
export const engineWith = (text: string, options?: EngineOptions): Engine => {
  const e = makeEngine(options)
  const p = parseProgram(text, { file: "test.clp" })
  if (Either.isLeft(p)) expect.fail(`parse failed: ${p.left.message} at ${p.left.line}:${p.left.column}`)
  const l = e.load(p.right)
  if (Either.isLeft(l)) expect.fail(`load failed: ${l.left.message} at ${l.left.line}:${l.left.column}`)
  e.reset()
  return e
}

/** The RuleError a program fails with (at parse or load), or fails the test. */
export const loadError = (text: string, file = "test.clp"): RuleError => {
  const p = parseProgram(text, { file })
  if (Either.isLeft(p)) return p.left
  const l = makeEngine().load(p.right)
  if (Either.isLeft(l)) return l.left
  return expect.fail("expected the program to fail")
}

/** Evaluates one expression in a rule's actions and returns what printout prints for it. */
export const evalPrint = (expr: string, prelude = ""): string => {
  const e = engineWith(`${prelude}\n(defrule eval-it => (printout t ${expr}))`)
  const r = e.run()
  if (Either.isLeft(r)) return `ERROR ${r.left.reason}: ${r.left.message}`
  return e.output()
}

/** Runs to quiescence and returns the output; fails the test on error. */
export const runOut = (e: Engine, limit?: number): string => {
  const r = e.run(limit)
  if (Either.isLeft(r)) expect.fail(`run failed: ${r.left.reason}: ${r.left.message}`)
  return e.output()
}
