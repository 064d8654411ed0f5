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

/** Implemented by an engine's per-node state (the memories of an alpha node or a join). */
export interface MemoryOwnerRef {
  readonly isMemoryOwner: true
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
  /** The state of the join whose memory holds this match (or of the alpha node for alpha matches). */
  owner: MemoryOwnerRef | null
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
  | { readonly kind: "dynamic"; readonly eval: (env: Env) => Value }

/** A slot of a template. */
export interface Slot {
  readonly name: string
  readonly index: number
  readonly multi: boolean
  readonly constraint: Constraint
  readonly default: SlotDefault
}

/**
 * A deftemplate (or an implied template for ordered facts). Immutable once its program is
 * compiled (engines sharing a program share its templates); an engine keeps the facts of
 * a template in its own {@link TemplateFacts}, found by `id`.
 */
export interface Template {
  /** Index of the engine's {@link TemplateFacts} for this template. */
  readonly id: number
  readonly name: string
  readonly module: string
  /** Ordered facts: one implied multislot. */
  readonly implied: boolean
  readonly slots: ReadonlyArray<Slot>
  readonly slotIndex: ReadonlyMap<string, number>
  /** Roots of this template's pattern network (and an index of them by identity, built with it). */
  readonly network: { first: AlphaNodeRef | null; index: Map<string, AlphaNodeRef> | null }
  /** Per slot: true when its constraint accepts any value. */
  readonly unconstrained: ReadonlyArray<boolean>
}

/** An engine's facts of one template. */
export interface TemplateFacts {
  /** Facts in assertion order: a linked list through `nextOfTemplate`. */
  first: Fact | null
  last: Fact | null
  count: number
  /**
   * Duplicate index: fact hash to the fact (or facts) with that hash. Built once the
   * template has more than a few facts (below that the list is scanned).
   */
  dup: Map<number, Fact | Array<Fact>> | null
}

/** A fact in working memory. */
export interface Fact {
  readonly id: number
  readonly template: Template
  /** Slot values in template order; an ordered fact has one MULTIFIELD field. */
  readonly fields: ReadonlyArray<Value>
  /** Hash of the fields (duplicate detection); -1 until needed. */
  hash: number
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


/** What actions may do to the engine while they run. */
export interface ActionHost {
  /** Asserts a fact; undefined when it duplicates an existing fact. */
  assertFields(template: Template, fields: ReadonlyArray<Value>, where: ErrorSite): Fact | undefined
  /** Retracts a fact by index; false when no such fact exists. */
  retractId(id: number): boolean
  /** Looks up a live fact by index. */
  factById(id: number): Fact | undefined
  /**
   * A fact the firing rule's actions retracted (a `modify` of it, say): CLIPS's fact address
   * still holds its values, so a second `modify` or a `duplicate` of it asserts a copy.
   */
  retractedInFiring(id: number): Fact | undefined
  /** Appends text to the output buffer for a logical name (`t`). */
  print(router: string, text: string): void
  /** Requests the run to stop after the current rule. */
  halt(): void
  /** Pushes modules on the focus stack (the first argument ends on top). */
  focus(modules: ReadonlyArray<string>, where: ErrorSite): void
  /** Current module name (for `return` in a rule). */
  readonly currentRuleModule: string | undefined
  /** Sets the flag that makes a rule's `(return)` pop its module's focus. */
  ruleReturned(): void
  /** Calls the host function registered under `name` (see `Engine.registerFunction`). */
  callHost(name: string, args: ReadonlyArray<Value>, site: ErrorSite): Value
  /** Global variable storage. */
  readonly globals: Map<string, Value>
  /** Regex cache for fathom-matches. */
  readonly regexCache: Map<string, RegExp>
}

/** Where an evaluation error happened, for messages. */
export interface ErrorSite {
  readonly file?: string | undefined
  readonly line?: number | undefined
  readonly column?: number | undefined
  readonly construct?: string | undefined
}

/** The runtime environment of one evaluation. */
export interface Env {
  /** The left partial match (join tests) or the activation's match (rule actions). */
  lhs: PartialMatch | null
  /** The right alpha match (join tests). */
  rhs: PartialMatch | null
  /** Local variables (rule actions, deffunction parameters). */
  frame: Array<Value>
  /** The fact being examined by a pattern-network test. */
  fact: Fact | null
  /** Multifield markers of the pattern-network match under way. */
  markers: ReadonlyArray<Marker> | null
  /** Engine hooks. */
  host: ActionHost
  /** Set by `return` to unwind a deffunction or a rule's actions. */
  returning: boolean
  /** In a deffunction's body: its `return` ends the call, not the rule's module focus. */
  readonly inFunction?: boolean | undefined
  /** Set by `break` to leave a loop. */
  breaking: boolean
}
