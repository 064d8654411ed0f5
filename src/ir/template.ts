/**
 * `{{field}}` templates for `set` nodes. A string that is exactly one placeholder yields
 * the raw value (keeping its type); placeholders inside text are rendered as text.
 */
import type { State } from "./stateSchema.js"

const WHOLE = /^\{\{\s*([A-Za-z_][\w.]*)\s*\}\}$/
const PART = /\{\{\s*([A-Za-z_][\w.]*)\s*\}\}/g

/** Read a dotted path (`a.b.0`) from the state. */
export const readPath = (state: State, path: string): unknown =>
  path.split(".").reduce<unknown>(
    (acc, key) => (acc !== null && typeof acc === "object" ? (acc as Record<string, unknown>)[key] : undefined),
    state
  )

const render = (v: unknown): string =>
  v === undefined || v === null ? "" : typeof v === "string" ? v : JSON.stringify(v)

/** Expand templates in `value` (recursively through arrays and objects). */
export const expand = (value: unknown, state: State): unknown => {
  if (typeof value === "string") {
    const whole = WHOLE.exec(value)
    if (whole) return structuredClone(readPath(state, whole[1]!)) ?? null
    return value.replace(PART, (_m, path: string) => render(readPath(state, path)))
  }
  if (Array.isArray(value)) return value.map((v) => expand(v, state))
  if (value !== null && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, expand(v, state)]))
  }
  return value
}

/** Every `{{path}}` placeholder in `value` (recursively through arrays and objects). */
export const placeholders = (value: unknown): ReadonlyArray<string> => {
  if (typeof value === "string") return [...value.matchAll(PART)].map((m) => m[1]!)
  if (Array.isArray(value)) return value.flatMap(placeholders)
  if (value !== null && typeof value === "object") return Object.values(value).flatMap(placeholders)
  return []
}
