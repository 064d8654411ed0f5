/**
 * Failed calls in the cassette. A call whose live answer failed (a tool's `ToolError`, a
 * model server's error status, a `ctx.call` whose function threw, a `ctx.callEffect`
 * that failed or died) is recorded with how it failed, and a replay fails the same way at
 * the same point instead of calling again: a node that caught the failure takes the same
 * fallback, a retry consumes the next recorded answer, and a run that failed on it fails
 * with the same error.
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
  return !(isStargraphError(error) && NOT_OUTCOMES.has(error._tag))
}

/** Stargraph's own error classes. */
const STARGRAPH_CLASSES = StargraphError.members

const isStargraphError = (error: object): error is StargraphError => STARGRAPH_CLASSES.some((member) => error instanceof member)

/** How deep errors inside errors (`cause`, `errors`) are recorded. */
const MAX_NESTING = 3

/** A property's value, or undefined when reading it throws (a getter that fails). */
const read = (target: object, key: string): unknown => {
  try {
    return (target as Record<string, unknown>)[key]
  } catch {
    return undefined
  }
}

/** The names of an error's own properties, then of the getters its classes define (up to `Error.prototype`). */
const propertyNames = (error: object): ReadonlyArray<string> => {
  const names = new Set(Object.getOwnPropertyNames(error))
  for (let proto = Object.getPrototypeOf(error) as object | null; proto !== null && proto !== Error.prototype && proto !== Object.prototype; proto = Object.getPrototypeOf(proto) as object | null) {
    for (const key of Object.getOwnPropertyNames(proto)) {
      if (typeof Object.getOwnPropertyDescriptor(proto, key)?.get === "function") names.add(key)
    }
  }
  return [...names]
}

/** The recorded form of a failure (see `CallFailure`); `defect` for an Effect's defect. */
export const failureOf = (error: unknown, defect = false, depth = 0): CallFailure => {
  const marks = defect ? { defect: true } : {}
  if (typeof error !== "object" || error === null) {
    return { kind: "value", name: error === null ? "null" : typeof error, message: String(error), ...marks }
  }
  const fields: Record<string, unknown> = {}
  const hidden: Record<string, unknown> = {}
  const nested: Record<string, CallFailure | ReadonlyArray<CallFailure>> = {}
  for (const key of propertyNames(error)) {
    if (key === "stack" || key === "message" || key === "constructor") continue
    const value = read(error, key)
    if (value === undefined || typeof value === "function") continue
    if (depth < MAX_NESTING && value instanceof Error) nested[key] = failureOf(value, false, depth + 1)
    else if (depth < MAX_NESTING && Array.isArray(value) && value.length > 0 && value.every((item) => item instanceof Error)) {
      nested[key] = value.map((item) => failureOf(item, false, depth + 1))
    } else if (checkJson(value, key) === undefined) {
      if (Object.prototype.propertyIsEnumerable.call(error, key)) fields[key] = value
      else hidden[key] = value
    }
  }
  const name = read(error, "name")
  const message = read(error, "message")
  return {
    kind: isStargraphError(error) ? "stargraph" : error instanceof Error ? "error" : "object",
    name: typeof name === "string" ? name : error instanceof Error ? "Error" : "Object",
    message: typeof message === "string" ? message : "",
    ...(Object.keys(fields).length > 0 ? { fields } : {}),
    ...(Object.keys(hidden).length > 0 ? { hidden } : {}),
    ...(Object.keys(nested).length > 0 ? { nested } : {}),
    ...marks
  }
}

const decodeStargraphError = Schema.decodeUnknownEither(StargraphError)

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

/** A primitive as recorded: its type and text. */
const primitive = (failure: CallFailure): unknown => {
  const text = failure.message
  switch (failure.name) {
    case "string":
      return text
    case "number":
      return Number(text)
    case "boolean":
      return text === "true"
    case "bigint":
      return BigInt(text)
    case "symbol":
      return Symbol(text.replace(/^Symbol\((.*)\)$/, "$1"))
    case "null":
      return null
    default:
      return undefined
  }
}

/** Define `values` on `target` as own properties that are not enumerable. */
const defineHidden = <T extends object>(target: T, values: { readonly [key: string]: unknown }): T => {
  for (const [key, value] of Object.entries(values)) Object.defineProperty(target, key, { value, enumerable: false, writable: true, configurable: true })
  return target
}

/** The fields that were errors, rebuilt. */
const nestedOf = (failure: CallFailure, at: Location): Record<string, unknown> => {
  const out: Record<string, unknown> = {}
  for (const [key, value] of Object.entries(failure.nested ?? {})) {
    out[key] = Array.isArray(value) ? value.map((item: CallFailure) => replayedFailure(item, at)) : replayedFailure(value as CallFailure, at)
  }
  return out
}

/** Where a replayed failure is raised (for the error a damaged record gives). */
interface Location {
  readonly nodeId: string
  readonly step: number
}

/**
 * The failure a replay fails with (see `CallFailure`): a Stargraph error decoded back into
 * its class; another error rebuilt as an `Error` (of the built-in class its name names,
 * `AggregateError` included) carrying the recorded name, message and fields, so
 * `catchTag` and `err.code` checks behave as they did (but not `instanceof` an app's own
 * class); a plain object as a plain object; a primitive as itself. A Stargraph error whose
 * record no longer decodes fails the node loudly.
 */
export const replayedFailure = (failure: CallFailure, at: Location): unknown => {
  const fields = failure.fields ?? {}
  switch (failure.kind) {
    case "value":
      return primitive(failure)
    case "object":
      return defineHidden({ ...fields }, { ...failure.hidden, ...nestedOf(failure, at) })
    case "stargraph": {
      const decoded = decodeStargraphError({ message: failure.message, ...failure.hidden, ...fields, ...nestedOf(failure, at) })
      return Either.isRight(decoded) ? decoded.right : new NodeExecutionError({
        nodeId: at.nodeId,
        step: at.step,
        attempts: 1,
        cause: `the recorded ${failure.name} of this call cannot be rebuilt (${ParseResult.TreeFormatter.formatErrorSync(decoded.left)}): ` +
          "the run's cassette is damaged or from another version; record the run again"
      })
    }
    default: {
      const error = failure.name === "AggregateError" ? new AggregateError([], failure.message) : new (BUILT_IN[failure.name] ?? Error)(failure.message)
      Object.assign(error, fields)
      // Errors inside it (`cause`, `errors`) are not enumerable, as the engine makes them.
      defineHidden(error, { ...failure.hidden, ...nestedOf(failure, at) })
      if (error.name !== failure.name) defineHidden(error, { name: failure.name })
      return error
    }
  }
}
