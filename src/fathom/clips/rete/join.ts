/**
 * Join nodes of the beta network and their construction with CLIPS 6.30's sharing rules:
 * a join is reused when it hangs off the same previous join and the same alpha node (or
 * sub-network) with identical tests and hashes. New joins are linked first in every list
 * they join (the previous join's successors, the alpha node's entry joins, the prime
 * lists), which is what makes later rules' activations come out before earlier ones'.
 */
import type { Env } from "../evaluation.js"
import type { HashKey, JoinNodeRef, PartialMatch, RuleRef } from "../model.js"
import type { AlphaNode } from "./alpha.js"
import { emptyMatch, Memory } from "./partial-match.js"

export type { RuleRef } from "../model.js"

/** A compiled join test with its identity key. */
export interface JoinTest {
  readonly key: string
  readonly fn: (env: Env) => boolean
}

/** A compiled beta-memory hash with its identity key. */
export interface JoinHash {
  readonly key: string
  readonly fn: (pm: PartialMatch) => HashKey
}

/** A link from a join to one of its successors. */
export interface JoinLink {
  readonly join: JoinNode
  readonly enterDirection: "LHS" | "RHS"
}

/** A join node. */
export class JoinNode implements JoinNodeRef {
  readonly isJoinNode = true as const
  leftMemory: Memory | null = null
  rightMemory: Memory | null = null
  /** The empty seed match of a not/exists/sub-network-first join's left memory. */
  emptyLeft: PartialMatch | null = null
  /** The empty seed match of a pattern-less first join's right memory. */
  emptyRight: PartialMatch | null = null
  /** Successor links, newest first. */
  readonly nextLinks: Array<JoinLink> = []
  /** Next join entered from the same alpha node (older). */
  rightMatchNode: JoinNode | null = null
  ruleToActivate: RuleRef | null = null
  /** Set on joins created while an incremental reset is prepared. */
  initialize = false
  /** In its alpha node's active list (see {@link linkActive}). */
  active = false
  activeNext: JoinNode | null = null
  activePrev: JoinNode | null = null
  readonly depth: number

  constructor(
    readonly firstJoin: boolean,
    readonly patternIsNegated: boolean,
    readonly patternIsExists: boolean,
    readonly joinFromTheRight: boolean,
    readonly networkTest: JoinTest | null,
    readonly secondaryNetworkTest: JoinTest | null,
    readonly leftHash: JoinHash | null,
    readonly rightHash: JoinHash | null,
    readonly lastLevel: JoinNode | null,
    readonly rightSideEntry: AlphaNode | JoinNode | null
  ) {
    this.depth = lastLevel === null ? 1 : lastLevel.depth + 1
  }
}

/** The network-wide join lists. */
export interface JoinRoots {
  /** First joins with no pattern (empty LHS, leading test CE), newest first. */
  readonly rightPrimeJoins: Array<JoinLink>
  /** First joins that are not CEs or sub-networks, newest first. */
  readonly leftPrimeJoins: Array<JoinLink>
}

/** What a new join looks like (arguments of CLIPS CreateNewJoin / FindShareableJoin). */
export interface JoinSpec {
  readonly networkTest: JoinTest | null
  readonly secondaryNetworkTest: JoinTest | null
  readonly leftHash: JoinHash | null
  readonly rightHash: JoinHash | null
  readonly negated: boolean
  readonly exists: boolean
  readonly joinFromTheRight: boolean
}

const sameKey = (a: { key: string } | null, b: { key: string } | null): boolean => (a === null ? b === null : b !== null && a.key === b.key)

const reusable = (j: JoinNode, firstJoin: boolean, s: JoinSpec): boolean =>
  j.firstJoin === firstJoin &&
  (j.patternIsNegated === s.negated || s.exists) &&
  j.patternIsExists === s.exists &&
  sameKey(j.networkTest, s.networkTest) &&
  sameKey(j.secondaryNetworkTest, s.secondaryNetworkTest) &&
  sameKey(j.leftHash, s.leftHash) &&
  sameKey(j.rightHash, s.rightHash)

/** Finds a join to share (CLIPS FindShareableJoin). */
export const findShareableJoin = (
  roots: JoinRoots,
  lastJoin: JoinNode | null,
  rightEntry: AlphaNode | JoinNode | null,
  firstJoin: boolean,
  spec: JoinSpec
): JoinNode | null => {
  let candidates: Iterable<JoinNode>
  if (lastJoin !== null) candidates = lastJoin.nextLinks.map((l) => l.join)
  else if (rightEntry === null) candidates = roots.rightPrimeJoins.map((l) => l.join)
  else if (!(rightEntry instanceof JoinNode)) {
    const list: Array<JoinNode> = []
    for (let j = rightEntry.entryJoin as JoinNode | null; j !== null; j = j.rightMatchNode) list.push(j)
    candidates = list
  } else candidates = rightEntry.nextLinks.map((l) => l.join)
  for (const j of candidates) {
    if (j.rightSideEntry === rightEntry && j.ruleToActivate === null && reusable(j, firstJoin, spec)) return j
  }
  return null
}

/** Creates and links a join (CLIPS CreateNewJoin). */
export const createJoin = (
  roots: JoinRoots,
  lastJoin: JoinNode | null,
  rightEntry: AlphaNode | JoinNode | null,
  spec: JoinSpec,
  incremental: boolean
): JoinNode => {
  const j = new JoinNode(
    lastJoin === null,
    spec.exists ? false : spec.negated,
    spec.exists,
    spec.joinFromTheRight,
    spec.networkTest,
    spec.secondaryNetworkTest,
    spec.leftHash,
    spec.rightHash,
    lastJoin,
    rightEntry
  )
  j.initialize = incremental
  if (lastJoin !== null || spec.exists || spec.negated || spec.joinFromTheRight) {
    j.leftMemory = new Memory()
    if (lastJoin === null) {
      const seed = emptyMatch()
      seed.owner = j
      j.emptyLeft = seed
      j.leftMemory.prepend(seed)
    }
  }
  if (spec.joinFromTheRight) j.rightMemory = new Memory()
  else if (lastJoin === null && rightEntry === null) {
    j.rightMemory = new Memory()
    const seed = emptyMatch()
    seed.owner = j
    seed.rhsMemory = true
    j.emptyRight = seed
    j.rightMemory.append(seed)
  }
  if (lastJoin !== null) lastJoin.nextLinks.unshift({ join: j, enterDirection: "LHS" })
  if (rightEntry === null) {
    if (j.firstJoin) roots.rightPrimeJoins.unshift({ join: j, enterDirection: "RHS" })
    return j
  }
  if (j.firstJoin && (j.patternIsNegated || j.joinFromTheRight) && !j.patternIsExists) {
    roots.leftPrimeJoins.unshift({ join: j, enterDirection: "LHS" })
  }
  if (rightEntry instanceof JoinNode) rightEntry.nextLinks.unshift({ join: j, enterDirection: "RHS" })
  else {
    j.rightMatchNode = rightEntry.entryJoin as JoinNode | null
    rightEntry.entryJoin = j
    if (j.firstJoin) linkActive(j)
    else {
      const mem = j.leftMemory!
      mem.onFill = () => linkActive(j)
      mem.onEmpty = () => unlinkActive(j)
      if (mem.count > 0) linkActive(j)
    }
  }
  return j
}

/*
 * Left unlinking. A new alpha match enters every join fed by its alpha node, in
 * `entryJoin` order; a join whose left memory is empty can do nothing with it. Each alpha
 * node therefore keeps the joins that can act (first joins, and joins with something on
 * their left) in a second list with the same relative order, and the engine walks that
 * one. The order of activations is unchanged: skipped joins would have been no-ops.
 */

/** Puts a join into its alpha node's active list, at its `entryJoin` position. */
export const linkActive = (j: JoinNode): void => {
  const alpha = j.rightSideEntry
  if (j.active || alpha === null || alpha instanceof JoinNode) return
  let next: JoinNode | null = j.rightMatchNode
  while (next !== null && !next.active) next = next.rightMatchNode
  const prev = next === null ? (alpha.activeLast as JoinNode | null) : next.activePrev
  j.activePrev = prev
  j.activeNext = next
  if (prev === null) alpha.activeFirst = j
  else prev.activeNext = j
  if (next === null) alpha.activeLast = j
  else next.activePrev = j
  j.active = true
}

/** Takes a join out of its alpha node's active list. */
export const unlinkActive = (j: JoinNode): void => {
  const alpha = j.rightSideEntry
  if (!j.active || alpha === null || alpha instanceof JoinNode) return
  if (j.activePrev === null) alpha.activeFirst = j.activeNext
  else j.activePrev.activeNext = j.activeNext
  if (j.activeNext === null) alpha.activeLast = j.activePrev
  else j.activeNext.activePrev = j.activePrev
  j.activePrev = null
  j.activeNext = null
  j.active = false
}

/** The next join to enter after `j` in its alpha node's list (valid even if `j` was unlinked meanwhile). */
export const nextActive = (j: JoinNode): JoinNode | null => {
  if (j.active) return j.activeNext
  let n: JoinNode | null = j.rightMatchNode
  while (n !== null && !n.active) n = n.rightMatchNode
  return n
}

/** Rebuilds an alpha node's active list from its joins' memories (after memories were cleared). */
export const resetActive = (alpha: AlphaNode): void => {
  for (let j = alpha.entryJoin as JoinNode | null; j !== null; j = j.rightMatchNode) {
    j.active = false
    j.activeNext = j.activePrev = null
  }
  alpha.activeFirst = alpha.activeLast = null
  const all: Array<JoinNode> = []
  for (let j = alpha.entryJoin as JoinNode | null; j !== null; j = j.rightMatchNode) all.push(j)
  for (let k = all.length - 1; k >= 0; k--) {
    const j = all[k]!
    if (j.firstJoin || j.leftMemory!.count > 0) linkActive(j)
  }
}
