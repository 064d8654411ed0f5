/**
 * Snapshots: a JSON-serializable image of working memory (facts with their indices, in
 * the lossless JSON value form), the next fact index, the focus stack, the pending
 * agenda and global variables. Restoring rebuilds the network from it without firing.
 */
import * as Either from "effect/Either"
import { fail } from "./diagnostics.js"
import type { Fact, Template } from "./templates.js"
import { fromJson, multifield, toJson, type Value } from "./values.js"

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

/** Builds a snapshot. */
export const toSnapshot = (s: SnapshotInput): Snapshot => ({
  version: 1,
  facts: s.facts.map((f): SnapshotFact => {
    const t = f.template
    const mod = t.module === "MAIN" ? {} : { module: t.module }
    if (t.implied) {
      const mf = f.fields[0]!
      return { id: f.id, template: t.name, ...mod, fields: mf.type === "MULTIFIELD" ? mf.value.map(toJson) : [toJson(mf)] }
    }
    const slots: Record<string, unknown> = {}
    for (const sl of t.slots) slots[sl.name] = toJson(f.fields[sl.index]!)
    return { id: f.id, template: t.name, ...mod, slots }
  }),
  nextFactId: s.nextFactId,
  focus: [...s.focus],
  agenda: s.agenda.map((a) => ({ rule: a.rule, salience: a.salience, factIds: [...a.factIds], key: a.key })),
  globals: Object.fromEntries([...s.globals].map(([k, v]) => [k, toJson(v)]))
})

/** A decoded snapshot. */
export interface DecodedSnapshot {
  readonly facts: ReadonlyArray<{ readonly id: number; readonly template: Template; readonly fields: ReadonlyArray<Value> }>
  readonly nextFactId: number
  readonly focus: ReadonlyArray<string>
  /** Match keys of the pending activations, in firing order. */
  readonly pending: ReadonlyArray<string>
  readonly globals: ReadonlyMap<string, Value>
}

const value = (json: unknown, what: string): Value => {
  const r = fromJson(json)
  if (Either.isLeft(r)) return fail("pack", `snapshot ${what}: ${r.left.message}`, "restore a snapshot produced by snapshot()")
  return r.right
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
  const facts = snap.facts.map((f) => {
    if (typeof f.id !== "number" || !Number.isInteger(f.id) || f.id < 0 || ids.has(f.id)) return fail("pack", `snapshot fact has a bad or repeated id ${String(f.id)}`, "restore a snapshot produced by snapshot()")
    ids.add(f.id)
    if (f.fields !== undefined) {
      const t = template(f.template, f.module) ?? implied(f.template, f.module)
      if (!t.implied) return fail("pack", `snapshot fact f-${f.id}: ${f.template} is a deftemplate but the fact is ordered`, "load the same program before restoring")
      return { id: f.id, template: t, fields: [multifield(f.fields.map((x: unknown, i: number) => value(x, `fact f-${f.id} field ${i + 1}`)))] }
    }
    const t = template(f.template, f.module)
    if (t === undefined || t.implied) return fail("unknown-template", `snapshot fact f-${f.id} uses unknown template ${f.template}`, "load the same program before restoring")
    const slots = f.slots ?? {}
    for (const k of Object.keys(slots)) if (!t.slotIndex.has(k)) return fail("pack", `snapshot fact f-${f.id}: template ${t.name} has no slot ${k}`, "load the same program before restoring")
    const fields = t.slots.map((sl) => {
      if (!(sl.name in slots)) return fail("pack", `snapshot fact f-${f.id} lacks slot ${sl.name}`, "restore a snapshot produced by snapshot()")
      const v = value(slots[sl.name], `fact f-${f.id} slot ${sl.name}`)
      return sl.multi && v.type !== "MULTIFIELD" ? multifield([v]) : v
    })
    return { id: f.id, template: t, fields }
  })
  const maxId = facts.reduce((m, f) => Math.max(m, f.id), -1)
  const nextFactId = typeof snap.nextFactId === "number" && snap.nextFactId > maxId ? snap.nextFactId : maxId + 1
  const globals = new Map<string, Value>()
  for (const [k, v] of Object.entries(snap.globals ?? {})) globals.set(k, value(v, `global ${k}`))
  return {
    facts,
    nextFactId,
    focus: Array.isArray(snap.focus) ? snap.focus.filter((x): x is string => typeof x === "string") : [],
    pending: Array.isArray(snap.agenda) ? snap.agenda.map((a) => a.key) : [],
    globals
  }
}
