/**
 * The data model shared by the engine's parts: facts, templates, slots and constraints,
 * partial matches and the references between network nodes and activations. Only types
 * live here, so every other module can depend on it without import cycles.
 */
import type { Value } from "./values.js"

/** Where one multifield element of a pattern matched: [start, end] inclusive, 0-based. */
export interface Marker {
  /** The element (1-based position in the slot's pattern) this marker belongs to. */
  readonly element: number
  readonly slot: number
  readonly start: number
  readonly end: number
}

/** A key of a hashed memory: one value's key, or several joined. */
export type HashKey = string | number

/** What one pattern of a partial match matched: a fact and its multifield markers. */
export interface AlphaBind {
  readonly fact: Fact
  readonly markers: ReadonlyArray<Marker> | null
}

/** Implemented by alpha (pattern network) nodes. */
export interface AlphaNodeRef {
  readonly isAlphaNode: true
}

/** Implemented by join nodes. */
export interface JoinNodeRef {
  readonly isJoinNode: true
}

/** Implemented by activations. */
export interface ActivationRef {
  readonly timetag: number
  readonly salience: number
}

/** The rule (one disjunct) a terminal join activates. */
export interface RuleRef {
  readonly name: string
  readonly salience: number
  readonly module: string
  readonly autoFocus: boolean
}

/** A (partial) match: the facts matched by a prefix of a rule's patterns, or one alpha match. */
export interface PartialMatch {
  /** One entry per pattern position; null for not/exists/test positions. */
  binds: Array<AlphaBind | null>
  hashKey: HashKey
  /** The join whose memory holds this match (or the alpha node for alpha matches). */
  owner: JoinNodeRef | AlphaNodeRef | null
  /** True for alpha matches. */
  readonly isAlpha: boolean
  /** True when stored in a right memory (join from the right). */
  rhsMemory: boolean
  nextInMemory: PartialMatch | null
  prevInMemory: PartialMatch | null
  children: PartialMatch | null
  leftParent: PartialMatch | null
  rightParent: PartialMatch | null
  nextLeftChild: PartialMatch | null
  prevLeftChild: PartialMatch | null
  nextRightChild: PartialMatch | null
  prevRightChild: PartialMatch | null
  /** Matches this one blocks (not/exists). */
  blockList: PartialMatch | null
  nextBlocked: PartialMatch | null
  prevBlocked: PartialMatch | null
  /** The match blocking this one (CLIPS's `marker` on not/exists left matches). */
  marker: PartialMatch | null
  /** The activation of a complete match (CLIPS's `marker` on terminal matches). */
  activation: ActivationRef | null
}

/** The compiled constraint record of a slot (CLIPS's CONSTRAINT_RECORD, the parts we support). */
export interface Constraint {
  readonly anyAllowed: boolean
  readonly symbolsAllowed: boolean
  readonly stringsAllowed: boolean
  readonly integersAllowed: boolean
  readonly floatsAllowed: boolean
  readonly factAddressesAllowed: boolean
  readonly anyRestriction: boolean
  readonly symbolRestriction: boolean
  readonly stringRestriction: boolean
  readonly integerRestriction: boolean
  readonly floatRestriction: boolean
  readonly restrictionList: ReadonlyArray<Value>
  readonly minValue: number | null
  readonly maxValue: number | null
  readonly minFields: number | null
  readonly maxFields: number | null
  /** The allowed types as written, for messages. */
  readonly typeNames: ReadonlyArray<string>
}

/** A slot's default: derived, required (`?NONE`), static (evaluated once) or dynamic (per assert). */
export type SlotDefault =
  | { readonly kind: "derive" }
  | { readonly kind: "none" }
  | { readonly kind: "static"; readonly value: Value }
  | { readonly kind: "dynamic"; readonly eval: () => Value }

/** A slot of a template. */
export interface Slot {
  readonly name: string
  readonly index: number
  readonly multi: boolean
  readonly constraint: Constraint
  readonly default: SlotDefault
}

/** A deftemplate (or an implied template for ordered facts). */
export interface Template {
  readonly name: string
  readonly module: string
  /** Ordered facts: one implied multislot. */
  readonly implied: boolean
  readonly slots: ReadonlyArray<Slot>
  readonly slotIndex: ReadonlyMap<string, number>
  /** Roots of this template's pattern network. */
  readonly network: { first: AlphaNodeRef | null }
  /** Facts of this template in assertion order: a linked list through `nextOfTemplate` (maintained by the engine). */
  firstFact: Fact | null
  lastFact: Fact | null
  /** Duplicate index: fact hash to the fact (or facts) with that hash. */
  readonly dup: Map<number, Fact | Array<Fact>>
  /** Per slot: true when its constraint accepts any value. */
  readonly unconstrained: ReadonlyArray<boolean>
}

/** A fact in working memory. */
export interface Fact {
  readonly id: number
  readonly template: Template
  /** Slot values in template order; an ordered fact has one MULTIFIELD field. */
  readonly fields: ReadonlyArray<Value>
  /** Hash of the fields (duplicate detection). */
  readonly hash: number
  /** Set when the fact has been retracted. */
  garbage: boolean
  /** The alpha matches of this fact, in creation order (internal). */
  matches: Array<PartialMatch> | null
  /** Neighbours in the template's fact list (internal). */
  prevOfTemplate: Fact | null
  nextOfTemplate: Fact | null
  /** The shared alpha bind of matches without multifield markers (internal). */
  bind: { readonly fact: Fact; readonly markers: null } | null
}

