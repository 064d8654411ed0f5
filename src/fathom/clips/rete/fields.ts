/**
 * Reading a pattern's field out of a fact: whole single slots, and elements of
 * multislots (or ordered facts) whose positions depend on how earlier `$?` elements
 * matched (the multifield markers), as CLIPS's getfield functions do.
 */
import type { Fact, Marker } from "../model.js"
import { multifield, NIL, type Value } from "../values.js"

/** Static facts about one element of a multislot pattern. */
export interface ElementInfo {
  /** 1-based position of the element in the slot's pattern. */
  readonly index: number
  readonly isMulti: boolean
  /** Single-field elements after this one in the slot's pattern. */
  readonly sfAfter: number
  /** Multifield elements before this one. */
  readonly mfBefore: number
  /** True when the slot's pattern has two or more multifield elements (positions come from markers). */
  readonly marked: boolean
}

/** A reference to a slot or a slot element of the fact matched by one pattern. */
export interface FieldRef {
  readonly slot: number
  /** null: the whole slot value. */
  readonly elem: ElementInfo | null
}

/** A canonical text for a field reference (part of node and test identity). */
export const fieldRefKey = (r: FieldRef): string =>
  r.elem === null ? `s${r.slot}` : `s${r.slot}e${r.elem.index}${r.elem.isMulti ? "m" : ""}`

const sliceOf = (v: Value): ReadonlyArray<Value> => (v.type === "MULTIFIELD" ? v.value : [v])

/** Reads the value a field reference designates, given the fact and the match's markers. */
export const readField = (fact: Fact, markers: ReadonlyArray<Marker> | null, ref: FieldRef): Value => {
  const slotValue = fact.fields[ref.slot]!
  const e = ref.elem
  if (e === null) return slotValue
  const items = sliceOf(slotValue)
  const len = items.length
  if (!e.marked) {
    if (e.isMulti) {
      const start = e.index - 1
      const end = len - 1 - e.sfAfter
      return multifield(items.slice(start, end + 1))
    }
    const pos = e.mfBefore === 0 ? e.index - 1 : len - 1 - e.sfAfter
    return items[pos] ?? NIL
  }
  if (e.isMulti && markers !== null) {
    for (const m of markers) if (m.slot === ref.slot && m.element === e.index) return multifield(items.slice(m.start, m.end + 1))
  }
  let pos = e.index - 1
  if (markers !== null) for (const m of markers) if (m.slot === ref.slot && m.element < e.index) pos += m.end - m.start
  if (e.isMulti) return multifield(items.slice(pos, pos + 1))
  return items[pos] ?? NIL
}
