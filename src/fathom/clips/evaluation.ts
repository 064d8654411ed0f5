/**
 * The evaluation environment shared by compiled expressions: the partial matches a join
 * test sees, the local variable frame of a rule's actions or a deffunction, and the hooks
 * into the engine that actions (assert, retract, printout, ...) use.
 */
import type { Fact, Marker, PartialMatch, Template } from "./model.js"
import type { Value } from "./values.js"

export type { Marker } from "./model.js"

/** What actions may do to the engine while they run. */
export interface ActionHost {
  /** Asserts a fact; undefined when it duplicates an existing fact. */
  assertFields(template: Template, fields: ReadonlyArray<Value>, where: ErrorSite): Fact | undefined
  /** Retracts a fact by index; false when no such fact exists. */
  retractId(id: number): boolean
  /** Looks up a live fact by index. */
  factById(id: number): Fact | undefined
  /** Appends text to the output buffer for a logical name (`t`). */
  print(router: string, text: string): void
  /** Requests the run to stop after the current rule. */
  halt(): void
  /** Pushes modules on the focus stack (the first argument ends on top). */
  focus(modules: ReadonlyArray<string>, where: ErrorSite): void
  /** Current module name (for `return` in a rule). */
  readonly currentRuleModule: string | undefined
  /** Sets the flag that makes a rule's `(return)` pop its module's focus. */
  ruleReturned(): void
  /** Global variable storage. */
  readonly globals: Map<string, Value>
  /** Regex cache for fathom-matches. */
  readonly regexCache: Map<string, RegExp>
}

/** Where an evaluation error happened, for messages. */
export interface ErrorSite {
  readonly file?: string | undefined
  readonly line?: number | undefined
  readonly column?: number | undefined
  readonly construct?: string | undefined
}

/** The runtime environment of one evaluation. */
export interface Env {
  /** The left partial match (join tests) or the activation's match (rule actions). */
  lhs: PartialMatch | null
  /** The right alpha match (join tests). */
  rhs: PartialMatch | null
  /** Local variables (rule actions, deffunction parameters). */
  frame: Array<Value>
  /** The fact being examined by a pattern-network test. */
  fact: Fact | null
  /** Multifield markers of the pattern-network match under way. */
  markers: ReadonlyArray<Marker> | null
  /** Engine hooks. */
  host: ActionHost
  /** Set by `return` to unwind a deffunction or a rule's actions. */
  returning: boolean
  /** Set by `break` to leave a loop. */
  breaking: boolean
}

/** A compiled expression. */
export type Compiled = (env: Env) => Value

/** An error raised while evaluating (internal; converted to a RuleError by the engine). */
export class EvalError {
  constructor(
    readonly message: string,
    readonly fix: string,
    readonly site: ErrorSite,
    /** CLIPS's own message id, e.g. `PRNTUTIL7`, when the error mirrors a CLIPS one. */
    readonly clipsId?: string
  ) {}
}
