/** Evaluation of declarative edge conditions against the state. */
import type { Condition } from "./schema.js"
import type { State } from "./stateSchema.js"
import { jsonEqual } from "./json.js"
import { readPath } from "./template.js"

const compare = (a: unknown, b: unknown): number | undefined =>
  typeof a === "number" && typeof b === "number"
    ? a - b
    : typeof a === "string" && typeof b === "string"
    ? (a < b ? -1 : a > b ? 1 : 0)
    : undefined

const ordered = (a: unknown, b: unknown, test: (n: number) => boolean): boolean => {
  const c = compare(a, b)
  return c !== undefined && test(c)
}

/** True when `condition` holds for `state`. Comparisons across types are false, never coerced. */
export const evaluate = (condition: Condition, state: State): boolean => {
  const v = readPath(state, condition.field)
  switch (condition.op) {
    case "eq":
      return jsonEqual(v, condition.value)
    case "ne":
      return !jsonEqual(v, condition.value)
    case "gt":
      return ordered(v, condition.value, (c) => c > 0)
    case "gte":
      return ordered(v, condition.value, (c) => c >= 0)
    case "lt":
      return ordered(v, condition.value, (c) => c < 0)
    case "lte":
      return ordered(v, condition.value, (c) => c <= 0)
    case "in":
      return Array.isArray(condition.value) && condition.value.some((x) => jsonEqual(x, v))
    case "exists":
      return v !== undefined && v !== null
    case "truthy":
      return Boolean(v) && !(Array.isArray(v) && v.length === 0)
    case "falsy":
      return !v || (Array.isArray(v) && v.length === 0)
  }
}
