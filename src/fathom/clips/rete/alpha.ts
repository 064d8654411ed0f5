/**
 * The pattern (alpha) network: per template a discrimination tree of field tests, with
 * constant tests hashed under selector nodes, built and traversed exactly like CLIPS
 * 6.30's fact pattern network (new nodes go first among their siblings; a fact visits a
 * node, its subtree, then its right siblings; `$?` elements enumerate their lengths from
 * longest to shortest). A stop node feeds the joins entered from it; its alpha memory is
 * engine state (state.ts). The network is immutable once its program is compiled, so
 * engines can share it.
 */
import type { Env } from "../evaluation.js"
import type { AlphaNodeRef, Fact, HashKey, JoinNodeRef, Marker } from "../model.js"
import type { Value } from "../values.js"
import type { ElementInfo } from "./fields.js"

/** A compiled pattern-network test with its identity key. */
export interface PNTest {
  readonly key: string
  readonly fn: (env: Env) => boolean
}

/** A compiled field getter with its identity key. */
export interface PNGetter {
  readonly key: string
  readonly fn: (env: Env) => Value
}

/** The hash of an alpha match for the joins it feeds (identity key + function). */
export interface RightHash {
  readonly key: string
  readonly fn: (fact: Fact, markers: ReadonlyArray<Marker> | null) => HashKey
}

/** One level of a pattern's path through the network. */
export interface NodeSpec {
  readonly kind: "sf" | "mf"
  readonly slot: number
  readonly field: number
  readonly endSlot: boolean
  readonly leaveFields: number
  readonly elem: ElementInfo | null
  /** Test of a plain node (null: always passes). */
  readonly test: PNTest | null
  /** A hashed constant test: selector getter, guard, and the constant. */
  readonly selector: { readonly getter: PNGetter; readonly guard: PNTest | null; readonly value: Value } | null
}

/** The list of root nodes of a template's network (typed by reference in the model), with an index by identity. */
export interface AlphaNodeList {
  first: AlphaNodeRef | null
  index: Map<string, AlphaNodeRef> | null
}

/** Counters numbering a network's nodes (the index of their state in an engine). */
export interface NodeIds {
  alpha: number
  join: number
}

/** Keys of a hashed child table (identity keys at build time). */
const valueKey = (v: Value): string | number => {
  switch (v.type) {
    case "INTEGER":
    case "FLOAT":
      return v.type === "FLOAT" ? `f${v.value}` : v.value
    case "SYMBOL":
      return `y${v.value}`
    case "STRING":
      return `s${v.value}`
    default:
      return `x${v.type}${String(v.value)}`
  }
}

/** A selector's children by constant, one map per type so lookups allocate nothing. */
export class HashedChildren {
  readonly symbols = new Map<string, AlphaNode>()
  readonly strings = new Map<string, AlphaNode>()
  readonly integers = new Map<number, AlphaNode>()
  readonly floats = new Map<number, AlphaNode>()
  set(v: Value, n: AlphaNode): void {
    switch (v.type) {
      case "SYMBOL":
        this.symbols.set(v.value, n)
        return
      case "STRING":
        this.strings.set(v.value, n)
        return
      case "INTEGER":
        this.integers.set(v.value, n)
        return
      case "FLOAT":
        this.floats.set(v.value, n)
        return
      default:
        return
    }
  }
  get(v: Value): AlphaNode | undefined {
    switch (v.type) {
      case "SYMBOL":
        return this.symbols.get(v.value)
      case "STRING":
        return this.strings.get(v.value)
      case "INTEGER":
        return this.integers.get(v.value)
      case "FLOAT":
        return this.floats.get(v.value)
      default:
        return undefined
    }
  }
}

/** A node of the pattern network. */
export class AlphaNode implements AlphaNodeRef {
  readonly isAlphaNode = true as const
  nextLevel: AlphaNode | null = null
  rightNode: AlphaNode | null = null
  leftNode: AlphaNode | null = null
  stopNode = false
  /** Joins entered from this node, newest first (linked through the joins' `rightMatchNode`). */
  entryJoin: JoinNodeRef | null = null
  /** Children of a selector, by constant value. */
  readonly hashed: HashedChildren | null
  /** The children (`nextLevel` list) by identity, for finding a shareable node in O(1). */
  childIndex: Map<string, AlphaNode> | null = null
  /** First joins entered from this node, by sharing key (see join.ts). */
  shareIndex: { readonly key: string; readonly join: JoinNodeRef } | Map<string, JoinNodeRef> | null = null

  constructor(
    /** Index of this node's state in an engine. */
    readonly id: number,
    /** The identity compared when looking for a shareable node. */
    readonly identity: string,
    readonly kind: "sf" | "mf",
    readonly slot: number,
    readonly field: number,
    readonly endSlot: boolean,
    readonly leaveFields: number,
    readonly elem: ElementInfo | null,
    /** Plain test, or a value node's constant test (null for selectors). */
    readonly test: PNTest | null,
    /** Selector nodes: the getter and guard. */
    readonly selectorGetter: PNGetter | null,
    readonly selectorGuard: PNTest | null,
    /** Value nodes: the constant. */
    readonly constant: Value | null,
    readonly rightHash: RightHash | null,
    readonly lastLevel: AlphaNode | null
  ) {
    this.hashed = selectorGetter !== null ? new HashedChildren() : null
  }

  get selector(): boolean {
    return this.selectorGetter !== null
  }
}

const specIdentity = (s: NodeSpec, asSelector: boolean, asValue: boolean, rightHash: RightHash | null): string => {
  const t = asSelector
    ? `S:${s.selector!.getter.key}|${s.selector!.guard?.key ?? ""}`
    : asValue
      ? `V:${valueKey(s.selector!.value)}`
      : `T:${s.test?.key ?? ""}`
  return `${s.kind}|${s.slot}|${s.field}|${s.endSlot ? 1 : 0}|${s.kind === "mf" ? s.leaveFields : ""}|${t}|${rightHash?.key ?? ""}`
}

/** The node of identity `identity` among the children of `upper` (or the roots), if any. */
const findNode = (root: AlphaNodeList, upper: AlphaNode | null, identity: string): AlphaNode | null => {
  const index = upper === null ? (root.index as Map<string, AlphaNode> | null) : upper.childIndex
  return index?.get(identity) ?? null
}

/**
 * Adds a node under `upper` (or at the root): first among its siblings when siblings
 * exist, as CLIPS does; registers value nodes in their selector's hash table.
 */
const createNode = (root: AlphaNodeList, upper: AlphaNode | null, node: AlphaNode): AlphaNode => {
  if (upper !== null && upper.hashed !== null && node.constant !== null) upper.hashed.set(node.constant, node)
  const head = upper === null ? (root.first as AlphaNode | null) : upper.nextLevel
  node.rightNode = head
  if (head !== null) head.leftNode = node
  if (upper === null) {
    root.first = node
    ;(root.index ??= new Map()).set(node.identity, node)
  } else {
    upper.nextLevel = node
    ;(upper.childIndex ??= new Map()).set(node.identity, node)
  }
  return node
}

/**
 * Places a pattern's path in a template's network, sharing existing nodes, and returns
 * its stop node. `rightHash` goes on the last node (so patterns hashed differently for
 * their joins end in different stop nodes).
 */
export const placePattern = (root: AlphaNodeList, specs: ReadonlyArray<NodeSpec>, rightHash: RightHash | null, ids: NodeIds): AlphaNode => {
  let upper: AlphaNode | null = null
  let node: AlphaNode | null = null
  for (let k = 0; k < specs.length; k++) {
    const s = specs[k]!
    const last = k === specs.length - 1
    const rh = last ? rightHash : null
    if (s.selector !== null) {
      // Both the selector and the value node of the last field carry the right hash (CLIPS).
      const selId = specIdentity(s, true, false, rh)
      let sel = findNode(root, upper, selId)
      if (sel === null) sel = createNode(root, upper, new AlphaNode(ids.alpha++, selId, s.kind, s.slot, s.field, s.endSlot, s.leaveFields, s.elem, null, s.selector.getter, s.selector.guard, null, rh, upper))
      upper = sel
      // The value nodes under one selector differ only in their constant: look them up by value.
      node = sel.hashed!.get(s.selector.value) ?? null
      if (node === null) node = createNode(root, upper, new AlphaNode(ids.alpha++, specIdentity(s, false, true, rh), s.kind, s.slot, s.field, s.endSlot, s.leaveFields, s.elem, null, null, null, s.selector.value, rh, upper))
    } else {
      const id = specIdentity(s, false, false, rh)
      node = findNode(root, upper, id)
      if (node === null) node = createNode(root, upper, new AlphaNode(ids.alpha++, id, s.kind, s.slot, s.field, s.endSlot, s.leaveFields, s.elem, s.test, null, null, null, rh, upper))
    }
    upper = node
  }
  node!.stopNode = true
  return node!
}

/** The callbacks the traversal drives. */
export interface AlphaHost {
  /** Reports an error raised by a pattern test (the test counts as failed). */
  patternError(error: unknown): void
  /** A reusable environment for pattern tests (its `fact` and `markers` are set by the traversal). */
  readonly env: Env
  /** A reusable (empty between traversals) stack of multifield markers. */
  readonly markerStack: Array<Marker>
  /** Called at every stop node the fact reaches, with the markers of this match. */
  alphaMatch(node: AlphaNode, fact: Fact, markers: ReadonlyArray<Marker> | null): void
}

const slotLength = (fact: Fact, slot: number): number => {
  const v = fact.fields[slot]!
  return v.type === "MULTIFIELD" ? v.value.length : 1
}

const nextNode = (finished: boolean, node: AlphaNode): AlphaNode | null => {
  if (!finished && node.nextLevel !== null) return node.nextLevel
  let n: AlphaNode | null = node
  while (n.rightNode === null || (n.lastLevel !== null && n.lastLevel.selector)) {
    n = n.lastLevel
    if (n === null) return null
    if (n.lastLevel !== null && n.lastLevel.selector) n = n.lastLevel
    if (n.kind === "mf") return null
  }
  return n.rightNode
}

const runTest = (host: AlphaHost, t: PNTest | null): boolean => {
  if (t === null) return true
  try {
    return t.fn(host.env)
  } catch (e) {
    host.patternError(e)
    return false
  }
}

const selectChild = (host: AlphaHost, sel: AlphaNode): AlphaNode | null => {
  if (!runTest(host, sel.selectorGuard)) return null
  let v: Value
  try {
    v = sel.selectorGetter!.fn(host.env)
  } catch (e) {
    host.patternError(e)
    return null
  }
  return sel.hashed!.get(v) ?? null
}

/** Sends a fact through a template's pattern network (CLIPS FactPatternMatch). */
export const matchFact = (host: AlphaHost, fact: Fact, root: AlphaNodeRef | null): void => {
  host.env.fact = fact
  host.env.markers = null
  traverse(host, fact, root as AlphaNode | null, 0, host.markerStack)
}

const traverse = (host: AlphaHost, fact: Fact, start: AlphaNode | null, offset: number, markers: Array<Marker>): void => {
  if (start === null) return
  const offsetSlot = start.slot
  let p: AlphaNode | null = start
  const env = host.env
  while (p !== null) {
    env.markers = markers.length === 0 ? null : markers
    const slotField = p.field + (offsetSlot === p.slot ? offset : 0)
    if (p.kind === "sf") {
      if (p.endSlot && p.elem !== null && markers.some((m) => m.slot === p!.slot)) {
        if (p.leaveFields + slotField !== slotLength(fact, p.slot)) {
          p = nextNode(true, p)
          continue
        }
      }
      if (p.selector) {
        const child = selectChild(host, p)
        if (child === null) p = nextNode(true, p)
        else {
          if (child.stopNode) host.alphaMatch(child, fact, markers.length === 0 ? null : markers.slice())
          p = nextNode(false, child)
        }
      } else if (runTest(host, p.test)) {
        if (p.stopNode) host.alphaMatch(p, fact, markers.length === 0 ? null : markers.slice())
        p = nextNode(false, p)
      } else p = nextNode(true, p)
    } else {
      multifieldNode(host, fact, p, markers, offsetSlot === p.slot ? offset : 0)
      env.fact = fact
      p = nextNode(true, p)
    }
  }
}

const multifieldNode = (host: AlphaHost, fact: Fact, node: AlphaNode, markers: Array<Marker>, offset: number): void => {
  const len = slotLength(fact, node.slot)
  const start = node.field - 1 + offset
  const env = host.env
  if (node.endSlot) {
    let end = len - (node.leaveFields + 1)
    if (end < start) end = start - 1
    markers.push({ element: node.field, slot: node.slot, start, end })
    env.markers = markers
    let target: AlphaNode | null = node
    let ok: boolean
    if (node.selector) {
      target = selectChild(host, node)
      ok = target !== null
    } else ok = runTest(host, node.test)
    if (ok && target !== null) {
      if (target.stopNode) host.alphaMatch(target, fact, markers.slice())
      traverse(host, fact, target.nextLevel, 0, markers)
    }
    markers.pop()
    env.markers = markers.length === 0 ? null : markers
    return
  }
  for (let repeat = len - (start + node.leaveFields); repeat >= 0; repeat--) {
    markers.push({ element: node.field, slot: node.slot, start, end: start + repeat - 1 })
    env.markers = markers
    if (node.selector) {
      const child = selectChild(host, node)
      if (child !== null) traverse(host, fact, child.nextLevel, offset + repeat - 1, markers)
    } else if (runTest(host, node.test)) {
      traverse(host, fact, node.nextLevel, offset + repeat - 1, markers)
    }
    markers.pop()
  }
  env.markers = markers.length === 0 ? null : markers
}
