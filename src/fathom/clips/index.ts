/**
 * Fathom's CLIPS 6.30 dialect rule engine: parse programs, load them into an engine (or
 * compile them once and instantiate engines sharing the compiled network), assert facts,
 * run rules to quiescence, and snapshot/restore working memory. See
 * docs/rule-language.md for the language and how it differs from CLIPS.
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
 *
 * // Many engines of one program: compile once, instantiate per use (own facts, agenda,
 * // globals and host functions; the network is shared).
 * const compiled = Either.getOrThrow(compile(Either.getOrThrow(program), { functions: ["edge-ok"] }))
 * const run = compiled.instantiate()
 * run.registerFunction("edge-ok", () => TRUE)
 * run.reset()
 * ```
 */

/** Parses program text into constructs; errors name file, line, column and construct. */
export { parseProgram } from "./constructs.js"
/** Parses a bare left-hand side (`?n <- (node-id (id n_b))`) into conditional elements. */
export { parsePatterns } from "./constructs.js"
/** Syntax-tree types: a parsed program, its constructs and conditional elements, parse options. */
export type { CE, Construct, ParseOptions, Program } from "./constructs.js"
/** A node of the read tree (a list or an atom), as constructs carry their right-hand sides. */
export type { SExpr } from "./reader.js"

/** Creates an engine (all state lives in the returned object); `load` adds programs to it. */
export { makeEngine } from "./engine.js"
/**
 * Compiles programs once into a {@link CompiledProgram}; `instantiate()` then makes engines
 * that share its network (a few µs each) but have their own working memory, agenda, focus
 * stack, globals and host functions.
 */
export { compile } from "./engine.js"
/** Renders a fact exactly as CLIPS prints it: `(a (x 1) (m 1 2))`, `(foo a b)`. */
export { renderFact } from "./engine.js"
/** Renders a fact as CLIPS source that reads back as it (strings escaped, as `save-facts` writes them). */
export { renderFactReadable } from "./engine.js"
/** The engine and its API types. */
export type { AgendaEntry, CompiledProgram, CompileOptions, Engine, EngineOptions, Fact, Firing, RunResult, WatchItem } from "./engine.js"

/** The JSON snapshot of an engine's working memory, focus stack and agenda. */
export type { Snapshot, SnapshotActivation, SnapshotFact } from "./snapshot.js"

/** A CLIPS value and its type tag. */
export type { Value, ValueType } from "./values.js"
/** A SYMBOL value. */
export { sym } from "./values.js"
/** A STRING value. */
export { str } from "./values.js"
/** An INTEGER value. */
export { int } from "./values.js"
/** A FLOAT value. */
export { float } from "./values.js"
/** A MULTIFIELD value. */
export { multifield } from "./values.js"
/** A FACT-ADDRESS value. */
export { factAddress } from "./values.js"
/** The symbols TRUE, FALSE and nil, and the empty multifield. */
export { TRUE, FALSE, NIL, EMPTY } from "./values.js"
/** TRUE or FALSE for a JS boolean. */
export { bool } from "./values.js"
/** CLIPS truth: everything but the symbol FALSE is true. */
export { isTrue } from "./values.js"
/** Value equality as `eq` sees it (types must match). */
export { equals } from "./values.js"
/** Lossless JSON form of a value (`{"symbol": "x"}`, `{"float": 2}`, ...). */
export { toJson } from "./values.js"
/** Parses the lossless JSON form back into a value (Either with a RuleError). */
export { fromJson } from "./values.js"
/** Converts plain JSON state (strings, numbers, booleans, null, arrays, objects) to a value. */
export { fromJs } from "./values.js"

/** Renders a value as CLIPS prints it inside facts. */
export { renderValue } from "./printer.js"
/** Renders a value as CLIPS source that reads back as it (strings escaped). */
export { renderReadable } from "./printer.js"
/** Formats a float as CLIPS prints it (`%.15g`, `.0` when integral). */
export { formatFloat } from "./printer.js"
