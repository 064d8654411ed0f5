/**
 * Join nodes of the beta network and their construction with CLIPS 6.30's sharing rules:
 * a join is reused when it hangs off the same previous join and the same alpha node (or
 * sub-network) with identical tests and hashes. New joins come first in every list they
 * join (the previous join's successors, the alpha node's entry joins, the prime lists),
 * which is what makes later rules' activations come out before earlier ones'. Successor
 * and prime lists are stored oldest first and walked from the end (appending is O(1)).
 * Sharing is found through indexes by sharing key, so building is linear in the rules.
 * The network is immutable once its program is compiled; memories are engine state
 * (state.ts).
 */
import type { Env } from "../evaluation.js"
import type { HashKey, JoinNodeRef, PartialMatch, RuleRef } from "../model.js"
import type { AlphaNode, NodeIds } from "./alpha.js"

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

/** The successors of a join without any (shared; replaced on the first link). */
const NO_LINKS: Array<JoinLink> = []

/** Adds a successor link (most joins have one: its array is allocated at its exact size). */
const addLink = (j: JoinNode, link: JoinLink): void => {
  if (j.nextLinks === NO_LINKS) j.nextLinks = [link]
  else j.nextLinks.push(link)
}

/** A join node. */
export class JoinNode implements JoinNodeRef {
  readonly isJoinNode = true as const
  /** Successor links, oldest first (they are entered newest first: walk from the end). */
  nextLinks: Array<JoinLink> = NO_LINKS
  /** Next join entered from the same alpha node (older). */
  rightMatchNode: JoinNode | null = null
  ruleToActivate: RuleRef | null = null
  readonly depth: number
  /** True when the join has a left (beta) memory. */
  readonly hasLeftMemory: boolean
  /** Successor joins by sharing key (see {@link findShareableJoin}). */
  shareIndex: ShareIndex | null = null

  constructor(
    /** Index of this join's state in an engine. */
    readonly id: number,
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
    this.hasLeftMemory = lastLevel !== null || patternIsExists || patternIsNegated || joinFromTheRight
  }
}

/** The network-wide join lists and node counters. */
export interface JoinRoots {
  /** First joins with no pattern (empty LHS, leading test CE), oldest first. */
  readonly rightPrimeJoins: Array<JoinLink>
  /** First joins that are not CEs or sub-networks, oldest first. */
  readonly leftPrimeJoins: Array<JoinLink>
  /** Pattern-less first joins by sharing key. */
  readonly primeIndex: Map<string, JoinNodeRef>
  readonly ids: NodeIds
}

/** An empty network. */
export const emptyRoots = (): JoinRoots => ({ rightPrimeJoins: [], leftPrimeJoins: [], primeIndex: new Map(), ids: { alpha: 0, join: 0 } })

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

const isJoin = (x: AlphaNode | JoinNode): x is JoinNode => "isJoinNode" in x

/**
 * The sharing key of a join: what CLIPS's FindShareableJoin compares (first join or not,
 * negated/exists, tests and hashes) plus the right entry. A join with `exists` has
 * `patternIsNegated` false, so the kind is one of exists, negated or positive.
 */
const shareKey = (rightEntry: AlphaNode | JoinNode | null, firstJoin: boolean, s: JoinSpec): string =>
  `${rightEntry === null ? "-" : isJoin(rightEntry) ? `j${rightEntry.id}` : `a${rightEntry.id}`}|${firstJoin ? 1 : 0}|${s.exists ? "E" : s.negated ? "N" : "P"}|${s.networkTest?.key ?? ""}|${s.secondaryNetworkTest?.key ?? ""}|${s.leftHash?.key ?? ""}|${s.rightHash?.key ?? ""}`

/** Joins by sharing key: one entry inline (the common case), a map beyond. */
export type ShareIndex = { readonly key: string; readonly join: JoinNodeRef } | Map<string, JoinNodeRef>

const indexGet = (index: ShareIndex | null, key: string): JoinNode | null => {
  if (index === null) return null
  if (index instanceof Map) return (index.get(key) as JoinNode | undefined) ?? null
  return index.key === key ? (index.join as JoinNode) : null
}

const indexSet = (index: ShareIndex | null, key: string, j: JoinNode): ShareIndex => {
  if (index === null || (!(index instanceof Map) && index.key === key)) return { key, join: j }
  if (index instanceof Map) return index.set(key, j)
  return new Map<string, JoinNodeRef>([
    [index.key, index.join],
    [key, j]
  ])
}

/**
 * Where CLIPS looks for a join to share: the previous join's successors, else the prime
 * list (no right entry), the alpha node's entry joins, or the sub-network's successors.
 */
const indexOf = (roots: JoinRoots, lastJoin: JoinNode | null, rightEntry: AlphaNode | JoinNode | null): ShareIndex | null => {
  if (lastJoin !== null) return lastJoin.shareIndex
  if (rightEntry === null) return roots.primeIndex
  return rightEntry.shareIndex
}

/** Finds a join to share (CLIPS FindShareableJoin: the newest join with the same key). */
export const findShareableJoin = (
  roots: JoinRoots,
  lastJoin: JoinNode | null,
  rightEntry: AlphaNode | JoinNode | null,
  firstJoin: boolean,
  spec: JoinSpec
): JoinNode | null => indexGet(indexOf(roots, lastJoin, rightEntry), shareKey(rightEntry, firstJoin, spec))

/**
 * Creates and links a join (CLIPS CreateNewJoin). A terminal join (one that activates a
 * rule) is never shared, so it is not indexed.
 */
export const createJoin = (roots: JoinRoots, lastJoin: JoinNode | null, rightEntry: AlphaNode | JoinNode | null, spec: JoinSpec, terminal: boolean): JoinNode => {
  const j = new JoinNode(
    roots.ids.join++,
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
  if (!terminal) {
    const key = shareKey(rightEntry, j.firstJoin, spec)
    if (lastJoin !== null) lastJoin.shareIndex = indexSet(lastJoin.shareIndex, key, j)
    else if (rightEntry === null) roots.primeIndex.set(key, j)
    else rightEntry.shareIndex = indexSet(rightEntry.shareIndex, key, j)
  }
  if (lastJoin !== null) addLink(lastJoin, { join: j, enterDirection: "LHS" })
  if (rightEntry === null) {
    if (j.firstJoin) roots.rightPrimeJoins.push({ join: j, enterDirection: "RHS" })
    return j
  }
  if (j.firstJoin && (j.patternIsNegated || j.joinFromTheRight) && !j.patternIsExists) {
    roots.leftPrimeJoins.push({ join: j, enterDirection: "LHS" })
  }
  if (isJoin(rightEntry)) addLink(rightEntry, { join: j, enterDirection: "RHS" })
  else {
    j.rightMatchNode = rightEntry.entryJoin as JoinNode | null
    rightEntry.entryJoin = j
  }
  return j
}
