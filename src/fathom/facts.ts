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

/** CLIPS text of a stored fact: `(risk (value "high") ...)`, strings escaped so it reads back. */
export const renderStored = (fact: StoredFact, templates: TemplateSlots): string => {
  const [, name, values] = fact
  const show = (v: unknown) => Either.match(Clips.fromJson(v), { onLeft: () => JSON.stringify(v), onRight: Clips.renderReadable })
  const slots = templates.get(name.includes("::") ? name.split("::")[1]! : name)
  if (slots === undefined) return `(${[name, ...values.map(show)].join(" ")})`
  return `(${name}${slots.map((s, i) => {
    const v = values[i]
    return Array.isArray(v) ? ` (${[s, ...v.map(show)].join(" ")})` : ` (${s} ${show(v)})`
  }).join("")})`
}

/**
 * Slots that differ between a run and its replay by construction: the provenance slots
 * naming the run and the time of mirrored facts, and the run of an answer's evidence; with
 * `acrossSteps`, the step too (a fact kept from one step of a run to a later one is
 * mirrored again with the later step).
 */
const runIdentity = (template: string, slot: string, acrossSteps: boolean): boolean =>
  slot === "_run_id" || slot === "_timestamp" || (acrossSteps && slot === "_step") || (template === "stargraph.evidence" && slot === "run_id")

/** A stored template's name without its module (`MOD::risk` → `risk`). */
const baseName = (name: string): string => (name.includes("::") ? name.split("::")[1]! : name)

/** A stored fact without its run-identity slots (see {@link runIdentity}). */
const withoutRunIdentity = (fact: StoredFact, templates: TemplateSlots, acrossSteps: boolean): StoredFact => {
  const [id, name, values] = fact
  const template = baseName(name)
  const slots = templates.get(template)
  return slots === undefined ? fact : [id, name, values.filter((_, i) => !runIdentity(template, slots[i]!, acrossSteps))]
}

/** The CLIPS text of a fact without its run-identity slots. */
const renderWithoutRunIdentity = (fact: StoredFact, templates: TemplateSlots, acrossSteps: boolean): string => {
  const template = baseName(fact[1])
  const slots = templates.get(template)
  if (slots === undefined) return renderStored(fact, templates)
  return renderStored(withoutRunIdentity(fact, templates, acrossSteps), new Map([[template, slots.filter((s) => !runIdentity(template, s, acrossSteps))]]))
}

/**
 * Facts in `b` and not in `a` (asserted), and in `a` and not in `b` (retracted), as CLIPS
 * text. Slots that name the run or the time are left out of the comparison and the text:
 * a replay asserts the same facts in another run. `acrossSteps`: `a` and `b` are two steps
 * of one run (`inspect --diff N M`), so the `_step` slot is left out as well.
 */
export const factDelta = (
  a: FactsSnapshot | undefined,
  b: FactsSnapshot | undefined,
  templates: TemplateSlots,
  options: { readonly acrossSteps?: boolean } = {}
): { readonly asserted: ReadonlyArray<string>; readonly retracted: ReadonlyArray<string> } => {
  const acrossSteps = options.acrossSteps === true
  const identity = (f: StoredFact) => JSON.stringify(withoutRunIdentity(f, templates, acrossSteps).slice(1))
  const left = new Map((a?.facts ?? []).map((f) => [identity(f), f]))
  const right = new Map((b?.facts ?? []).map((f) => [identity(f), f]))
  return {
    asserted: [...right].filter(([k]) => !left.has(k)).map(([, f]) => renderWithoutRunIdentity(f, templates, acrossSteps)),
    retracted: [...left].filter(([k]) => !right.has(k)).map(([, f]) => renderWithoutRunIdentity(f, templates, acrossSteps))
  }
}

/** A RuleError for a fact the engine cannot take. */
export const factError = (message: string, fix: string): RuleError => new RuleError({ reason: "runtime", message, fix })
