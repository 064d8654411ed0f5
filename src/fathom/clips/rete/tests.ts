/**
 * Building compiled tests for the pattern and join networks: field getters on each side
 * of a join (the pattern under test, the right alpha match, a left partial match's
 * pattern), constant and variable comparisons, and/or/not combinators. Each carries a
 * canonical key so identical tests in different rules are recognised (node sharing).
 */
import type { Env } from "../evaluation.js"
import { equals, factAddress, isTrue, type Value } from "../values.js"
import { constKey, type CompiledExpr } from "../expressions.js"
import { fieldRefKey, readField, type FieldRef } from "./fields.js"

/** A boolean test with its identity key. */
export interface Test {
  readonly key: string
  readonly fn: (env: Env) => boolean
}

/** A value getter with its identity key. */
export interface Getter {
  readonly key: string
  readonly fn: (env: Env) => Value
}

/** Which match a getter reads: the fact in the pattern network, the right alpha match, or left bind `p`. */
export type Side = { readonly kind: "PN" } | { readonly kind: "R" } | { readonly kind: "L"; readonly bind: number }

const sideKey = (s: Side): string => (s.kind === "L" ? `L${s.bind}` : s.kind)

/** A getter for a field of the fact matched on `side`. */
export const fieldGetter = (side: Side, ref: FieldRef): Getter => {
  const key = `${sideKey(side)}.${fieldRefKey(ref)}`
  const slot = ref.slot
  if (ref.elem === null) {
    switch (side.kind) {
      case "PN":
        return { key, fn: (env) => env.fact!.fields[slot]! }
      case "R":
        return { key, fn: (env) => env.rhs!.binds[0]!.fact.fields[slot]! }
      case "L": {
        const p = side.bind
        return { key, fn: (env) => env.lhs!.binds[p]!.fact.fields[slot]! }
      }
    }
  }
  switch (side.kind) {
    case "PN":
      return { key, fn: (env) => readField(env.fact!, env.markers, ref) }
    case "R":
      return {
        key,
        fn: (env) => {
          const b = env.rhs!.binds[0]!
          return readField(b.fact, b.markers, ref)
        }
      }
    case "L": {
      const p = side.bind
      return {
        key,
        fn: (env) => {
          const b = env.lhs!.binds[p]!
          return readField(b.fact, b.markers, ref)
        }
      }
    }
  }
}

/** A getter for the fact address of the fact matched on `side`. */
export const factGetter = (side: Side): Getter => {
  const key = `${sideKey(side)}.fact`
  switch (side.kind) {
    case "PN":
      return { key, fn: (env) => factAddress(env.fact!.id) }
    case "R":
      return { key, fn: (env) => factAddress(env.rhs!.binds[0]!.fact.id) }
    case "L": {
      const p = side.bind
      return { key, fn: (env) => factAddress(env.lhs!.binds[p]!.fact.id) }
    }
  }
}

/** `getter` equals (or, negated, differs from) the constant `v`. */
export const constTest = (g: Getter, v: Value, negated: boolean): Test => {
  const f = g.fn
  if (v.type === "SYMBOL" || v.type === "STRING" || v.type === "INTEGER") {
    const t = v.type
    const x = v.value
    return negated
      ? { key: `(neq ${g.key} ${constKey(v)})`, fn: (env) => { const y = f(env); return !(y.type === t && y.value === x) } }
      : { key: `(eq ${g.key} ${constKey(v)})`, fn: (env) => { const y = f(env); return y.type === t && y.value === x } }
  }
  return negated
    ? { key: `(neq ${g.key} ${constKey(v)})`, fn: (env) => !equals(f(env), v) }
    : { key: `(eq ${g.key} ${constKey(v)})`, fn: (env) => equals(f(env), v) }
}

/** Two getters are equal (or, negated, differ). */
export const varTest = (a: Getter, b: Getter, negated: boolean): Test => {
  const fa = a.fn
  const fb = b.fn
  return negated
    ? { key: `(neq ${a.key} ${b.key})`, fn: (env) => !equals(fa(env), fb(env)) }
    : { key: `(eq ${a.key} ${b.key})`, fn: (env) => equals(fa(env), fb(env)) }
}

/** A predicate constraint `:(...)`: true unless the call returns FALSE (negated with `~`). */
export const predTest = (e: CompiledExpr, negated: boolean): Test => {
  const f = e.fn
  return negated ? { key: `(not ${e.key})`, fn: (env) => !isTrue(f(env)) } : { key: e.key, fn: (env) => isTrue(f(env)) }
}

/** A return-value constraint `=(...)`: the field equals the call's value. */
export const rvTest = (g: Getter, e: CompiledExpr, negated: boolean): Test => {
  const fg = g.fn
  const fe = e.fn
  return negated
    ? { key: `(neq ${g.key} ${e.key})`, fn: (env) => !equals(fg(env), fe(env)) }
    : { key: `(eq ${g.key} ${e.key})`, fn: (env) => equals(fg(env), fe(env)) }
}

/** Conjunction (null when empty). */
export const andTests = (tests: ReadonlyArray<Test | null>): Test | null => {
  const ts = tests.filter((t): t is Test => t !== null)
  if (ts.length === 0) return null
  if (ts.length === 1) return ts[0]!
  const fns = ts.map((t) => t.fn)
  if (fns.length === 2) {
    const [a, b] = fns as [Test["fn"], Test["fn"]]
    return { key: `(and ${ts.map((t) => t.key).join(" ")})`, fn: (env) => a(env) && b(env) }
  }
  return {
    key: `(and ${ts.map((t) => t.key).join(" ")})`,
    fn: (env) => {
      for (let k = 0; k < fns.length; k++) if (!fns[k]!(env)) return false
      return true
    }
  }
}

/** Disjunction (null when empty). */
export const orTests = (tests: ReadonlyArray<Test | null>): Test | null => {
  const ts = tests.filter((t): t is Test => t !== null)
  if (ts.length === 0) return null
  if (ts.length === 1) return ts[0]!
  const fns = ts.map((t) => t.fn)
  return {
    key: `(or ${ts.map((t) => t.key).join(" ")})`,
    fn: (env) => {
      for (let k = 0; k < fns.length; k++) if (fns[k]!(env)) return true
      return false
    }
  }
}

/** Negation. */
export const notTest = (t: Test): Test => {
  const f = t.fn
  return { key: `(not ${t.key})`, fn: (env) => !f(env) }
}

/** The multislot length test CLIPS adds to the first element of a slot pattern. */
export const lengthTest = (slot: number, exactly: boolean, min: number): Test => {
  const key = `(len s${slot} ${exactly ? "=" : ">="} ${min})`
  return exactly
    ? {
        key,
        fn: (env) => {
          const v = env.fact!.fields[slot]!
          return (v.type === "MULTIFIELD" ? v.value.length : 1) === min
        }
      }
    : {
        key,
        fn: (env) => {
          const v = env.fact!.fields[slot]!
          return (v.type === "MULTIFIELD" ? v.value.length : 1) >= min
        }
      }
}
