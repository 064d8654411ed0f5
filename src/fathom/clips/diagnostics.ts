/**
 * Building `RuleError` values with the file, position and construct of the offending text.
 */
import { RuleError } from "../../errors.js"

/** A 1-based source position. */
export interface Pos {
  readonly line: number
  readonly column: number
}

/** Where a problem was found: file, position, construct (all optional). */
export interface Where {
  readonly file?: string | undefined
  readonly pos?: Pos | undefined
  readonly construct?: string | undefined
}

/** The `reason` literals of {@link RuleError}. */
export type RuleErrorReason = RuleError["reason"]

/** A `RuleError` with the position fields filled from `where`. */
export const ruleError = (reason: RuleErrorReason, message: string, fix: string, where: Where = {}): RuleError =>
  new RuleError({
    reason,
    message,
    fix,
    ...(where.file !== undefined ? { file: where.file } : {}),
    ...(where.pos !== undefined ? { line: where.pos.line, column: where.pos.column } : {}),
    ...(where.construct !== undefined ? { construct: where.construct } : {})
  })

/**
 * Internal control flow: compile and evaluation code throws this and the public entry
 * points convert it to an `Either` left. It never escapes the engine.
 */
export class RuleFailure {
  constructor(readonly error: RuleError) {}
}

/** Throws a {@link RuleFailure} (internal; caught at the API boundary). */
export const fail = (reason: RuleErrorReason, message: string, fix: string, where: Where = {}): never => {
  throw new RuleFailure(ruleError(reason, message, fix, where))
}
