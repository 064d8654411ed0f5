/**
 * Fathom's CLIPS 6.30 dialect rule engine: parse programs, load them into an engine,
 * assert facts, run rules to quiescence, and snapshot/restore working memory.
 *
 * @example
 * ```ts
 * const program = parseProgram(`(deftemplate a (slot x)) (defrule r (a (x ?v)) => (printout t ?v crlf))`)
 * const engine = makeEngine()
 * engine.load(Either.getOrThrow(program))
 * engine.reset()
 * engine.assertFact("a", { x: int(1) })
 * engine.run()
 * engine.output() // "1\n"
 * ```
 */

/** Parse program text into constructs, or a bare left-hand side into conditional elements. */
export { parseProgram, parsePatterns } from "./constructs.js"
export type { CE, Construct, ParseOptions, Program } from "./constructs.js"

/** Create an engine; the engine's types. */
export { makeEngine, renderFact } from "./engine.js"
export type { AgendaEntry, Engine, EngineOptions, Fact, Firing, RunResult, WatchItem } from "./engine.js"

/** Snapshots of working memory. */
export type { Snapshot, SnapshotActivation, SnapshotFact } from "./snapshot.js"

/** CLIPS values, their constructors and JSON forms. */
export {
  bool,
  EMPTY,
  equals,
  FALSE,
  factAddress,
  float,
  fromJs,
  fromJson,
  int,
  isTrue,
  multifield,
  NIL,
  str,
  sym,
  toJson,
  TRUE
} from "./values.js"
export type { Value, ValueType } from "./values.js"

/** Printing values as CLIPS does. */
export { formatFloat, renderValue } from "./printer.js"
