/**
 * Deftemplates at run time: slots with their constraints and defaults, implied (ordered)
 * templates, facts, and the constraint checks CLIPS applies to asserted slot values.
 */
import type { Constraint, Fact, Slot, Template } from "./model.js"
import { formatFloat, renderValue } from "./printer.js"
import { EMPTY, equals, multifield, NIL, type Value } from "./values.js"

export type { Constraint, Fact, Slot, SlotDefault, Template, TemplateFacts } from "./model.js"

/** The unconstrained record. */
export const ANY_CONSTRAINT: Constraint = {
  anyAllowed: true,
  symbolsAllowed: true,
  stringsAllowed: true,
  integersAllowed: true,
  floatsAllowed: true,
  factAddressesAllowed: true,
  anyRestriction: false,
  symbolRestriction: false,
  stringRestriction: false,
  integerRestriction: false,
  floatRestriction: false,
  restrictionList: [],
  minValue: null,
  maxValue: null,
  minFields: null,
  maxFields: null,
  typeNames: []
}

/** True when a constraint accepts every single-field value (checks can be skipped). */
export const isUnconstrained = (c: Constraint): boolean =>
  c.anyAllowed && !c.anyRestriction && !c.symbolRestriction && !c.stringRestriction && !c.integerRestriction && !c.floatRestriction && c.minValue === null && c.maxValue === null && c.minFields === null && c.maxFields === null

/** Creates a fact record (not yet in working memory). */
export const newFact = (id: number, template: Template, fields: ReadonlyArray<Value>, hash: number): Fact => ({
  id,
  template,
  fields,
  hash,
  garbage: false,
  matches: null,
  prevOfTemplate: null,
  nextOfTemplate: null,
  bind: null
})

/** Creates a template record; `id` indexes the engines' per-template fact lists. */
export const makeTemplate = (id: number, name: string, module: string, implied: boolean, slots: ReadonlyArray<Slot>): Template => ({
  id,
  name,
  module,
  implied,
  slots,
  slotIndex: new Map(slots.map((s) => [s.name, s.index])),
  network: { first: null, index: null },
  unconstrained: slots.map((s) => isUnconstrained(s.constraint))
})

/** The implied multislot of ordered templates. */
export const impliedSlot: Slot = { name: "implied", index: 0, multi: true, constraint: ANY_CONSTRAINT, default: { kind: "static", value: EMPTY } }

/** The value CLIPS derives for a slot without a default (`?DERIVE`). */
export const deriveDefault = (c: Constraint, multi: boolean): Value => {
  const find = (type: Value["type"], fallback: Value): Value => c.restrictionList.find((v) => v.type === type) ?? fallback
  let v: Value
  if (c.anyAllowed || c.symbolsAllowed) v = find("SYMBOL", NIL)
  else if (c.stringsAllowed) v = find("STRING", { type: "STRING", value: "" })
  else if (c.integersAllowed) {
    const r = c.restrictionList.find((x) => x.type === "INTEGER")
    v = r ?? { type: "INTEGER", value: c.minValue !== null ? Math.trunc(c.minValue) : c.maxValue !== null ? Math.trunc(c.maxValue) : 0 }
  } else if (c.floatsAllowed) {
    const r = c.restrictionList.find((x) => x.type === "FLOAT")
    v = r ?? { type: "FLOAT", value: c.minValue !== null ? c.minValue : c.maxValue !== null ? c.maxValue : 0 }
  } else if (c.factAddressesAllowed) v = { type: "FACT-ADDRESS", value: -1 }
  else v = NIL
  if (!multi) return v
  const n = c.minFields ?? 0
  return multifield(Array.from({ length: n }, () => v))
}

/** Why a value violates a constraint. */
export type Violation = "type" | "allowed-values" | "range" | "cardinality"

const inList = (c: Constraint, v: Value): boolean => c.restrictionList.some((r) => equals(r, v))

/** Checks one single-field value against a constraint. */
export const checkField = (c: Constraint, v: Value): Violation | null => {
  if (!c.anyAllowed) {
    const ok =
      (v.type === "SYMBOL" && c.symbolsAllowed) ||
      (v.type === "STRING" && c.stringsAllowed) ||
      (v.type === "INTEGER" && c.integersAllowed) ||
      (v.type === "FLOAT" && c.floatsAllowed) ||
      (v.type === "FACT-ADDRESS" && c.factAddressesAllowed)
    if (!ok) return "type"
  }
  if (c.anyRestriction) {
    if (!inList(c, v)) return "allowed-values"
  } else if (
    (v.type === "SYMBOL" && c.symbolRestriction) ||
    (v.type === "STRING" && c.stringRestriction) ||
    (v.type === "INTEGER" && c.integerRestriction) ||
    (v.type === "FLOAT" && c.floatRestriction)
  ) {
    if (!inList(c, v)) return "allowed-values"
  }
  if ((v.type === "INTEGER" || v.type === "FLOAT") && (c.minValue !== null || c.maxValue !== null)) {
    if ((c.minValue !== null && v.value < c.minValue) || (c.maxValue !== null && v.value > c.maxValue)) return "range"
  }
  return null
}

/** Checks a slot value (a multislot's fields one by one, plus cardinality). */
export const checkSlot = (slot: Slot, v: Value): Violation | null => {
  const c = slot.constraint
  if (slot.multi) {
    const fields = v.type === "MULTIFIELD" ? v.value : [v]
    if ((c.minFields !== null && fields.length < c.minFields) || (c.maxFields !== null && fields.length > c.maxFields)) return "cardinality"
    for (const f of fields) {
      const r = checkField(c, f)
      if (r !== null) return r
    }
    return null
  }
  if (v.type === "MULTIFIELD") return "type"
  return checkField(c, v)
}

/** A readable description of a violation, for error messages. */
export const describeViolation = (template: Template, slot: Slot, v: Value, why: Violation): string => {
  const c = slot.constraint
  const shown = renderValue(v)
  switch (why) {
    case "type":
      return slot.multi || v.type !== "MULTIFIELD"
        ? `slot ${slot.name} of ${template.name}: ${shown} does not match the allowed types (${c.typeNames.join(" ")})`
        : `slot ${slot.name} of ${template.name} is a single-field slot but got the multifield ${shown}`
    case "allowed-values":
      return `slot ${slot.name} of ${template.name}: ${shown} is not one of the allowed values (${c.restrictionList.map(renderValue).join(" ")})`
    case "range":
      return `slot ${slot.name} of ${template.name}: ${shown} is outside the allowed range ${c.minValue === null ? "-oo" : fmtNum(c.minValue)} to ${c.maxValue === null ? "+oo" : fmtNum(c.maxValue)}`
    case "cardinality":
      return `slot ${slot.name} of ${template.name}: ${shown} does not satisfy the cardinality ${c.minFields ?? 0} to ${c.maxFields === null ? "+oo" : c.maxFields}`
  }
}

const fmtNum = (n: number): string => (Number.isInteger(n) ? String(n) : formatFloat(n))

/** Renders a fact exactly as CLIPS prints it: `(a (x 1) (m 1 2))` or `(foo a b)`. */
export const renderFact = (fact: { readonly template: Template; readonly fields: ReadonlyArray<Value> }): string => {
  const t = fact.template
  if (t.implied) {
    const mf = fact.fields[0]
    const items = mf !== undefined && mf.type === "MULTIFIELD" ? mf.value : []
    return items.length === 0 ? `(${t.name})` : `(${t.name} ${items.map(renderValue).join(" ")})`
  }
  let out = `(${t.name}`
  for (const s of t.slots) {
    const v = fact.fields[s.index]!
    if (s.multi) {
      const items = v.type === "MULTIFIELD" ? v.value : [v]
      out += items.length === 0 ? ` (${s.name})` : ` (${s.name} ${items.map(renderValue).join(" ")})`
    } else out += ` (${s.name} ${renderValue(v)})`
  }
  return out + ")"
}
