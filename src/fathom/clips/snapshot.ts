/**
 * Snapshots: a JSON-serializable image of working memory (facts with their indices, in
 * the lossless JSON value form), the next fact index, the focus stack, the pending
 * agenda and global variables. Restoring rebuilds the network from it without firing.
 */
import * as Either from "effect/Either"
import { fail } from "./diagnostics.js"
import type { Fact, Template } from "./templates.js"
import { decodeJson, fromJson, multifield, toJson, type Value } from "./values.js"

/** A fact in a snapshot. */
export interface SnapshotFact {
  readonly id: number
  readonly template: string
  /** The template's module when not MAIN. */
  readonly module?: string
  /** Template facts: slot values in JSON form. */
  readonly slots?: Readonly<Record<string, unknown>>
  /** Ordered facts: field values in JSON form. */
  readonly fields?: ReadonlyArray<unknown>
}

/** A pending activation in a snapshot. */
export interface SnapshotActivation {
  readonly rule: string
  readonly salience: number
  readonly factIds: ReadonlyArray<number | null>
  /** Exact identity of the match (rule, facts, multifield positions). */
  readonly key: string
}

/** The snapshot of an engine. */
export interface Snapshot {
  readonly version: 1
  readonly facts: ReadonlyArray<SnapshotFact>
  readonly nextFactId: number
  /** Focus stack, top first. */
  readonly focus: ReadonlyArray<string>
  /** Pending activations in firing order. */
  readonly agenda: ReadonlyArray<SnapshotActivation>
  readonly globals: Readonly<Record<string, unknown>>
}

/** Engine state handed to {@link toSnapshot}. */
export interface SnapshotInput {
  readonly facts: ReadonlyArray<Fact>
  readonly nextFactId: number
  readonly focus: ReadonlyArray<string>
  readonly agenda: ReadonlyArray<SnapshotActivation>
  readonly globals: ReadonlyMap<string, Value>
}

/** The JSON form of a fact. */
const factJson = (f: Fact): SnapshotFact => {
  const t = f.template
  if (t.implied) {
    const mf = f.fields[0]!
    const fields = mf.type === "MULTIFIELD" ? mf.value.map(toJson) : [toJson(mf)]
    return t.module === "MAIN" ? { id: f.id, template: t.name, fields } : { id: f.id, template: t.name, module: t.module, fields }
  }
  const slots: Record<string, unknown> = {}
  const ts = t.slots
  for (let k = 0; k < ts.length; k++) slots[ts[k]!.name] = toJson(f.fields[k]!)
  return t.module === "MAIN" ? { id: f.id, template: t.name, slots } : { id: f.id, template: t.name, module: t.module, slots }
}

/** Builds a snapshot. */
export const toSnapshot = (s: SnapshotInput): Snapshot => {
  const facts: Array<SnapshotFact> = new Array<SnapshotFact>(s.facts.length)
  for (let i = 0; i < s.facts.length; i++) facts[i] = factJson(s.facts[i]!)
  const globals: Record<string, unknown> = {}
  for (const [k, v] of s.globals) globals[k] = toJson(v)
  return {
    version: 1,
    facts,
    nextFactId: s.nextFactId,
    focus: [...s.focus],
    agenda: s.agenda.map((a) => ({ rule: a.rule, salience: a.salience, factIds: [...a.factIds], key: a.key })),
    globals
  }
}

/** A decoded snapshot. */
export interface DecodedSnapshot {
  readonly facts: ReadonlyArray<{ readonly id: number; readonly template: Template; readonly fields: ReadonlyArray<Value> }>
  readonly nextFactId: number
  readonly focus: ReadonlyArray<string>
  /** Match keys of the pending activations, in firing order. */
  readonly pending: ReadonlyArray<string>
  readonly globals: ReadonlyMap<string, Value>
}

/** Decodes a value of a snapshot; `what` names it in the error (built only on failure). */
const value = (json: unknown, what: () => string): Value => {
  const v = decodeJson(json)
  if (v !== undefined) return v
  const r = fromJson(json)
  return fail("pack", `snapshot ${what()}: ${Either.isLeft(r) ? r.left.message : "not a value"}`, "restore a snapshot produced by snapshot()")
}

/** Decodes and checks a snapshot against the loaded templates. */
export const fromSnapshot = (
  snap: Snapshot,
  template: (name: string, module: string | undefined) => Template | undefined,
  implied: (name: string, module: string | undefined) => Template
): DecodedSnapshot => {
  if (snap === null || typeof snap !== "object" || snap.version !== 1 || !Array.isArray(snap.facts)) {
    return fail("pack", "not a version 1 snapshot", "restore a snapshot produced by snapshot()")
  }
  const ids = new Set<number>()
  const facts: Array<{ readonly id: number; readonly template: Template; readonly fields: ReadonlyArray<Value> }> = new Array(snap.facts.length)
  for (let i = 0; i < snap.facts.length; i++) {
    const f = snap.facts[i]!
    if (typeof f.id !== "number" || !Number.isInteger(f.id) || f.id < 0 || ids.has(f.id)) return fail("pack", `snapshot fact has a bad or repeated id ${String(f.id)}`, "restore a snapshot produced by snapshot()")
    ids.add(f.id)
    if (f.fields !== undefined) {
      const t = template(f.template, f.module) ?? implied(f.template, f.module)
      if (!t.implied) return fail("pack", `snapshot fact f-${f.id}: ${f.template} is a deftemplate but the fact is ordered`, "load the same program before restoring")
      facts[i] = { id: f.id, template: t, fields: [multifield(f.fields.map((x: unknown, k: number) => value(x, () => `fact f-${f.id} field ${k + 1}`)))] }
      continue
    }
    const t = template(f.template, f.module)
    if (t === undefined || t.implied) return fail("unknown-template", `snapshot fact f-${f.id} uses unknown template ${f.template}`, "load the same program before restoring")
    const slots = (f.slots ?? {}) as Record<string, unknown>
    const ts = t.slots
    const fields: Array<Value> = new Array<Value>(ts.length)
    let given = 0
    // One pass in key order (reading `slots[k]` inside for-in is fast; lookups by slot name are not).
    for (const k in slots) {
      if (!Object.prototype.hasOwnProperty.call(slots, k)) continue
      const idx = t.slotIndex.get(k)
      if (idx === undefined) return fail("pack", `snapshot fact f-${f.id}: template ${t.name} has no slot ${k}`, "load the same program before restoring")
      given++
      const sl = ts[idx]!
      const v = value(slots[k], () => `fact f-${f.id} slot ${sl.name}`)
      fields[idx] = sl.multi && v.type !== "MULTIFIELD" ? multifield([v]) : v
    }
    if (given !== ts.length) {
      for (const sl of ts) if (!(sl.name in slots)) return fail("pack", `snapshot fact f-${f.id} lacks slot ${sl.name}`, "restore a snapshot produced by snapshot()")
    }
    facts[i] = { id: f.id, template: t, fields }
  }
  const maxId = facts.reduce((m, f) => Math.max(m, f.id), -1)
  const nextFactId = typeof snap.nextFactId === "number" && snap.nextFactId > maxId ? snap.nextFactId : maxId + 1
  const globals = new Map<string, Value>()
  for (const [k, v] of Object.entries(snap.globals ?? {})) globals.set(k, value(v, () => `global ${k}`))
  return {
    facts,
    nextFactId,
    focus: Array.isArray(snap.focus) ? snap.focus.filter((x): x is string => typeof x === "string") : [],
    pending: Array.isArray(snap.agenda) ? snap.agenda.map((a) => a.key) : [],
    globals
  }
}
