/**
 * The evaluation environment shared by compiled expressions: the partial matches a join
 * test sees, the local variable frame of a rule's actions or a deffunction, and the hooks
 * into the engine that actions (assert, retract, printout, ...) use. The types live in
 * model.ts (templates' dynamic defaults are evaluated with an `Env` too).
 */
import type { Env, ErrorSite } from "./model.js"
import type { Value } from "./values.js"

export type { ActionHost, Env, ErrorSite, Marker } from "./model.js"

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
