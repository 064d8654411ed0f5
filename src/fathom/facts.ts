/**
 * Facts as Stargraph stores and shows them: the compact working-memory snapshot a
 * checkpoint carries (`[id, template, [slot values in template order]]`, values in the
 * engine's lossless JSON form), its conversion to and from the engine's snapshot, the
 * facts a counterfactual mutation asserts or retracts, and fact differences between two
 * snapshots (provenance slots that name the run or the time are left out of the
 * comparison: a replay is the same fact in another run).
 */
import * as Either from "effect/Either"
import * as Schema from "effect/Schema"
import { RuleError } from "../errors.js"
import * as Clips from "./clips/index.js"

/** One fact in a checkpoint: id, template (module-qualified outside MAIN), values in template order. */
export type StoredFact = readonly [id: number, template: string, values: ReadonlyArray<unknown>]

/** Working memory after a step, as a checkpoint stores it. */
export const FactsSnapshot = Schema.Struct({
  /** The next fact index. */
  next: Schema.Int,
  facts: Schema.Array(Schema.Tuple(Schema.Int, Schema.String, Schema.Array(Schema.Unknown))),
  /** Pending activations, when a run stopped with a non-empty agenda (normally absent). */
  agenda: Schema.optional(Schema.Array(Schema.Unknown)),
  /** The focus stack, when not just MAIN. */
  focus: Schema.optional(Schema.Array(Schema.String)),
  globals: Schema.optional(Schema.Record({ key: Schema.String, value: Schema.Unknown }))
})
/** Working memory after a step. */
export type FactsSnapshot = typeof FactsSnapshot.Type

/** A fact to assert or retract in a counterfactual: CLIPS text, or a template and its slots. */
export const FactSpec = Schema.Union(
  Schema.String,
  Schema.Struct({
    template: Schema.String,
    slots: Schema.optionalWith(Schema.Record({ key: Schema.String, value: Schema.Unknown }), { default: () => ({}) })
  })
)
/** A fact to assert or retract in a counterfactual. */
export type FactSpec = typeof FactSpec.Type

/** Slot names of every template (template facts), for the compact form. */
export type TemplateSlots = ReadonlyMap<string, ReadonlyArray<string>>

const qualified = (f: { readonly template: string; readonly module?: string | undefined }) =>
  f.module === undefined || f.module === "MAIN" ? f.template : `${f.module}::${f.template}`

/** The engine's snapshot in the compact form. */
export const compact = (snapshot: Clips.Snapshot, templates: TemplateSlots): FactsSnapshot => ({
  next: snapshot.nextFactId,
  facts: snapshot.facts.map((f): StoredFact => {
    const slots = templates.get(f.template)
    return [f.id, qualified(f), f.slots !== undefined && slots !== undefined ? slots.map((s) => f.slots![s] ?? null) : f.fields ?? Object.values(f.slots ?? {})]
  }),
  ...(snapshot.agenda.length > 0 ? { agenda: snapshot.agenda } : {}),
  ...(snapshot.focus.length > 1 || (snapshot.focus[0] ?? "MAIN") !== "MAIN" ? { focus: snapshot.focus } : {}),
  ...(Object.keys(snapshot.globals).length > 0 ? { globals: snapshot.globals } : {})
})

/** The compact form back as the engine's snapshot. */
export const expand = (stored: FactsSnapshot, templates: TemplateSlots): Clips.Snapshot => ({
  version: 1,
  nextFactId: stored.next,
  facts: stored.facts.map(([id, name, values]): Clips.SnapshotFact => {
    const [module, template] = name.includes("::") ? (name.split("::") as [string, string]) : [undefined, name]
    const slots = templates.get(template)
    const base = { id, template, ...(module !== undefined ? { module } : {}) }
    return slots !== undefined ? { ...base, slots: Object.fromEntries(slots.map((s, i) => [s, values[i]])) } : { ...base, fields: values }
  }),
  focus: stored.focus ?? ["MAIN"],
  agenda: (stored.agenda ?? []) as ReadonlyArray<Clips.SnapshotActivation>,
  globals: stored.globals ?? {}
})

/** CLIPS text of a stored fact: `(risk (value "high") ...)`. */
export const renderStored = (fact: StoredFact, templates: TemplateSlots): string => {
  const [, name, values] = fact
  const show = (v: unknown) => Either.match(Clips.fromJson(v), { onLeft: () => JSON.stringify(v), onRight: Clips.renderValue })
  const slots = templates.get(name.includes("::") ? name.split("::")[1]! : name)
  if (slots === undefined) return `(${[name, ...values.map(show)].join(" ")})`
  return `(${name}${slots.map((s, i) => {
    const v = values[i]
    return Array.isArray(v) ? ` (${[s, ...v.map(show)].join(" ")})` : ` (${s} ${show(v)})`
  }).join("")})`
}

/** Provenance slots that differ between a run and its replay by construction. */
const RUN_IDENTITY = new Set(["_run_id", "_timestamp"])

/** A fact's identity for comparison: template and slots, without run identity. */
const identity = (fact: StoredFact, templates: TemplateSlots): string => {
  const [, name, values] = fact
  const slots = templates.get(name)
  const kept = slots === undefined ? values : values.filter((_, i) => !RUN_IDENTITY.has(slots[i]!))
  return JSON.stringify([name, kept])
}

/** Facts in `b` and not in `a` (asserted), and in `a` and not in `b` (retracted), as CLIPS text. */
export const factDelta = (
  a: FactsSnapshot | undefined,
  b: FactsSnapshot | undefined,
  templates: TemplateSlots
): { readonly asserted: ReadonlyArray<string>; readonly retracted: ReadonlyArray<string> } => {
  const left = new Map((a?.facts ?? []).map((f) => [identity(f, templates), f]))
  const right = new Map((b?.facts ?? []).map((f) => [identity(f, templates), f]))
  return {
    asserted: [...right].filter(([k]) => !left.has(k)).map(([, f]) => renderStored(f, templates)),
    retracted: [...left].filter(([k]) => !right.has(k)).map(([, f]) => renderStored(f, templates))
  }
}

/** A RuleError for a fact the engine cannot take. */
export const factError = (message: string, fix: string): RuleError => new RuleError({ reason: "runtime", message, fix })
