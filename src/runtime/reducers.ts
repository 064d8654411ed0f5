/**
 * The reducer registry and the deterministic merge of one step's node updates into state.
 */
import * as Either from "effect/Either"
import { StateConflictError, StateValidationError } from "../errors.js"
import type { Reducer } from "../ir/schema.js"
import { type FieldInfo, type State, undeclaredFieldFix } from "../ir/stateSchema.js"
import { checkJson, freezeShell, frozenCopy, jsonEqual } from "../ir/json.js"
import { addMessages } from "../ir/messagesReducer.js"

/** One node's update in a step, in deterministic (declaration) order. */
export interface NodeWrite {
  readonly node: string
  readonly update: State
}

const isPlainObject = (u: unknown): u is Record<string, unknown> =>
  u !== null && typeof u === "object" && !Array.isArray(u)

/**
 * Combine `current` with `incoming` under `reducer`; Left with a message (the problem and
 * its fix) when the write does not fit: `append` takes a list of items (a single item is
 * not wrapped: write `[item]`), `add` takes a number (a whole one on an `integer` field),
 * `merge` takes an object, `messages` a list of messages (see `messagesReducer.ts`).
 */
export const reduce = (reducer: Reducer, current: unknown, incoming: unknown, type?: FieldInfo["type"]): Either.Either<unknown, string> => {
  switch (reducer) {
    case "replace":
      return Either.right(incoming)
    case "append": {
      const base = current === undefined || current === null ? [] : current
      if (!Array.isArray(base)) return Either.left("append reducer: the current value is not a list")
      if (!Array.isArray(incoming)) {
        return Either.left(`append reducer: the write is ${describe(incoming)}, not a list of items to append; write a list, e.g. [${JSON.stringify(incoming) ?? "item"}] for one item`)
      }
      return Either.right([...base, ...incoming])
    }
    case "add": {
      const base = current === undefined || current === null ? 0 : current
      if (type === "integer" && typeof base === "number" && typeof incoming !== "number") {
        return Either.left(`add reducer: the field is an integer and the write is ${describe(incoming)}; add whole numbers`)
      }
      if (typeof base !== "number" || typeof incoming !== "number") {
        return Either.left(`add reducer: expected numbers, got ${typeof base} and ${typeof incoming}`)
      }
      if (type === "integer" && !Number.isInteger(incoming)) {
        return Either.left(`add reducer: the field is an integer and the write adds ${incoming}; add whole numbers, or declare the field as number`)
      }
      return Either.right(base + incoming)
    }
    case "messages":
      return addMessages(current, incoming)
    case "merge": {
      const base = current === undefined || current === null ? {} : current
      if (!isPlainObject(base) || !isPlainObject(incoming)) return Either.left(`merge reducer: expected objects, got ${describe(incoming)} to merge`)
      return Either.right({ ...base, ...incoming })
    }
  }
}

/** A written value's kind, for a reducer's message. */
const describe = (value: unknown): string =>
  Array.isArray(value) ? "a list" : value === null ? "null" : typeof value === "object" ? "an object" : `a ${typeof value}`

/**
 * Apply a step's writes to `state` in the given order. Fails loudly when a write is not
 * JSON, names an undeclared field, mismatches its reducer, or when two nodes of one
 * parallel step write different values to the same `replace` field. The new state is
 * frozen throughout (its written values are frozen copies; see `frozenCopy`), as the
 * state the run starts from is.
 */
export const applyWrites = (
  state: State,
  writes: ReadonlyArray<NodeWrite>,
  fields: ReadonlyMap<string, FieldInfo>,
  step: number
): Either.Either<State, StateValidationError | StateConflictError> => {
  const next: Record<string, unknown> = { ...state }
  const writers = new Map<string, string>()
  for (const { node, update } of writes) {
    for (const key of Object.keys(update)) {
      const value = update[key]
      const field = fields.get(key)
      if (!field) {
        return Either.left(new StateValidationError({
          source: "node-update",
          field: key,
          nodeId: node,
          step,
          message: `'${key}' is not a declared state field`,
          fix: undeclaredFieldFix(key, fields.keys())
        }))
      }
      const jsonProblem = checkJson(value, key)
      if (jsonProblem) {
        return Either.left(new StateValidationError({
          source: "node-update",
          field: jsonProblem.path,
          nodeId: node,
          step,
          message: jsonProblem.message
        }))
      }
      const previous = writers.get(key)
      // The same value written twice is no conflict: the result does not depend on timing.
      if (previous !== undefined && field.reducer === "replace" && !jsonEqual(next[key], value)) {
        return Either.left(new StateConflictError({
          field: key,
          nodeIds: [previous, node],
          step,
          message: `parallel nodes '${previous}' and '${node}' both wrote '${key}', which has no merging reducer; ` +
            "the result would depend on timing. Give the field a reducer (append, add, merge, messages) or write it from one node"
        }))
      }
      writers.set(key, node)
      const merged = reduce(field.reducer, next[key], frozenCopy(value), field.type)
      if (Either.isLeft(merged)) {
        return Either.left(new StateValidationError({ source: "node-update", field: key, nodeId: node, step, message: merged.left }))
      }
      next[key] = freezeShell(merged.right)
    }
  }
  return Either.right(freezeShell(next))
}
