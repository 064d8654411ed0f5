/**
 * Plain-JavaScript checks of inline state fields, built once per graph: the fast path in
 * front of the Effect Schema decode that validates inputs and each step's writes.
 *
 * A check answers `true` only when the Schema would accept the value and decode it to an
 * equal value (nothing to fill in, such as a nested property's default); on `false` the
 * caller asks the Schema, which decides and words the error. So a check never changes
 * what is accepted or how it reads, only how fast a valid value gets through.
 */
import type { FieldSpec } from "./schema.js"

/** Run state (stateSchema.ts's `State`, written out: importing it would make an import cycle). */
type State = { readonly [field: string]: unknown }

/** `true`: valid and already in decoded form; `false`: ask the field's Schema. */
export type FieldCheck = (value: unknown) => boolean

const isPlainObject = (value: unknown): value is Readonly<Record<string, unknown>> =>
  typeof value === "object" && value !== null && !Array.isArray(value) && Object.getPrototypeOf(value) === Object.prototype

/** The check of values of one declared field (or array item, or object property). */
export const fieldCheck = (spec: FieldSpec): FieldCheck => {
  const base = baseCheck(spec)
  return spec.nullable === true ? (value) => value === null || base(value) : base
}

const baseCheck = (spec: FieldSpec): FieldCheck => {
  if (spec.enum !== undefined && spec.enum.length > 0) {
    const allowed = spec.enum
    return (value) => allowed.includes(value as string | number | boolean)
  }
  switch (spec.type) {
    case "string":
      return (value) => typeof value === "string"
    case "integer":
      return (value) => typeof value === "number" && Number.isSafeInteger(value)
    case "number":
      return (value) => typeof value === "number" && Number.isFinite(value)
    case "boolean":
      return (value) => typeof value === "boolean"
    case "any":
      return () => true
    case "array": {
      if (spec.items === undefined) return Array.isArray
      const item = fieldCheck(spec.items)
      return (value) => Array.isArray(value) && value.every(item)
    }
    case "object": {
      if (spec.properties === undefined) return isPlainObject
      return structCheck(spec.properties)
    }
  }
}

/** An object with declared properties: no other keys, and none missing that the Schema would fill or require. */
const structCheck = (properties: { readonly [key: string]: FieldSpec }): FieldCheck => {
  const checks = new Map(Object.entries(properties).map(([key, spec]) => [key, fieldCheck(spec)]))
  // Absent, these are filled in (a default) or refused (required): ask the Schema.
  const needed = Object.entries(properties).filter(([, spec]) => spec.default !== undefined || spec.required === true).map(([key]) => key)
  return (value) => {
    if (!isPlainObject(value)) return false
    for (const key of needed) if (!Object.hasOwn(value, key)) return false
    for (const key in value) {
      const check = checks.get(key)
      if (check === undefined || !check(value[key])) return false
    }
    return true
  }
}

/**
 * A run's initial state from its inputs, when every input is a declared field with a
 * valid value and no required field is missing: the inputs in declaration order, each
 * absent field with a default given a copy of it (as the Schema's decode gives it).
 * Undefined otherwise: the Schema decodes the inputs, or says what is wrong.
 */
export const initialStateOf = (fields: { readonly [name: string]: FieldSpec }): (inputs: State) => State | undefined => {
  const declared = Object.entries(fields).map(([name, spec]) => ({ name, spec, check: fieldCheck(spec) }))
  const names = new Set(Object.keys(fields))
  return (inputs) => {
    if (!isPlainObject(inputs)) return undefined
    for (const key in inputs) if (!names.has(key)) return undefined
    const state: Record<string, unknown> = {}
    for (const { name, spec, check } of declared) {
      if (Object.hasOwn(inputs, name)) {
        const value = inputs[name]
        if (!check(value)) return undefined
        state[name] = value
      } else if (spec.default !== undefined) {
        state[name] = structuredClone(spec.default)
      } else if (spec.required === true) {
        return undefined
      }
    }
    return state
  }
}
