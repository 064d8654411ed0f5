/**
 * Failed calls in the cassette. A call whose live answer failed (a tool's `ToolError`, a
 * model server's error status, a `ctx.call` whose function threw) is recorded with how
 * it failed, and a replay fails the same way at the same point instead of calling again:
 * a node that caught the failure takes the same fallback, a retry consumes the next
 * recorded answer, and a run that failed on it fails with the same error.
 */
import * as Either from "effect/Either"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import type { CallFailure } from "../checkpoint/models.js"
import { NodeExecutionError, StargraphError } from "../errors.js"
import { checkJson } from "../ir/json.js"
import { Unrecorded } from "../nodes/calls.js"

/** Tags of failures that belong to the runtime or the replay itself, never to the call. */
const NOT_OUTCOMES: ReadonlySet<string> = new Set(["ReplayDivergenceError", "CheckpointError"])

/** Whether a live call's failure is its outcome, to record (not a signal, a divergence or a storage failure). */
export const isCallOutcome = (error: unknown): boolean => {
  if (typeof error !== "object" || error === null) return true
  if (Unrecorded in error) return false
  return !("_tag" in error && typeof error._tag === "string" && NOT_OUTCOMES.has(error._tag))
}

/** The recorded form of a failure: name, message and the fields that are JSON. */
export const failureOf = (error: unknown): CallFailure => {
  if (typeof error !== "object" || error === null) {
    const problem = checkJson(error ?? null, "thrown")
    return { name: typeof error, message: String(error), thrown: problem === undefined ? error ?? null : String(error) }
  }
  const fields: Record<string, unknown> = {}
  // Own properties, enumerable or not: a typed error's `cause` field is not enumerable.
  for (const key of Object.getOwnPropertyNames(error)) {
    if (key === "stack" || key === "message") continue
    const value: unknown = (error as Record<string, unknown>)[key]
    if (value !== undefined && checkJson(value, key) === undefined) fields[key] = value
  }
  const named = error as { readonly name?: unknown; readonly message?: unknown }
  return {
    name: typeof named.name === "string" ? named.name : "Error",
    message: typeof named.message === "string" ? named.message : "",
    ...(Object.keys(fields).length > 0 ? { fields } : {})
  }
}

const decodeStargraphError = Schema.decodeUnknownEither(StargraphError)

/** The `_tag`s of Stargraph's own errors. */
const STARGRAPH_TAGS: ReadonlySet<string> = new Set(StargraphError.members.map((member) => member.identifier))

/** The built-in error classes a recorded `name` is rebuilt as. */
const BUILT_IN: Readonly<Record<string, ErrorConstructor>> = {
  Error,
  TypeError,
  RangeError,
  SyntaxError,
  ReferenceError,
  EvalError,
  URIError
}

/**
 * The failure a replay fails with: a Stargraph error decoded back into its class; the
 * thrown value itself; else an `Error` (of the built-in class its name names) carrying
 * the recorded name, message and fields, so `catchTag` and `err.code` checks behave as
 * they did. A Stargraph error whose record no longer decodes fails the node loudly.
 */
export const replayedFailure = (failure: CallFailure, at: { readonly nodeId: string; readonly step: number }): unknown => {
  if (failure.thrown !== undefined) return failure.thrown
  const fields = failure.fields ?? {}
  if (typeof fields._tag === "string" && STARGRAPH_TAGS.has(fields._tag)) {
    const decoded = decodeStargraphError({ message: failure.message, ...fields })
    return Either.isRight(decoded) ? decoded.right : new NodeExecutionError({
      nodeId: at.nodeId,
      step: at.step,
      attempts: 1,
      cause: `the recorded ${fields._tag} of this call cannot be rebuilt (${ParseResult.TreeFormatter.formatErrorSync(decoded.left)}): ` +
        "the run's cassette is damaged or from another version; record the run again"
    })
  }
  const error = new (BUILT_IN[failure.name] ?? Error)(failure.message)
  Object.assign(error, fields)
  if (error.name !== failure.name) Object.defineProperty(error, "name", { value: failure.name, enumerable: false, writable: true, configurable: true })
  return error
}
