/**
 * Partial matches and the memories that hold them, with CLIPS 6.30's exact ordering:
 * alpha memories and right beta memories append, left beta memories prepend; lineage
 * (children) and block lists prepend. These orders decide which activation is created
 * first when one fact change produces several, so they are part of the conflict
 * resolution behaviour.
 */
import type { ActivationRef, AlphaBind, HashKey, MemoryOwnerRef, PartialMatch } from "../model.js"

export type { AlphaBind, HashKey, PartialMatch } from "../model.js"

/** The partial match record (see {@link PartialMatch}). */
export class Match implements PartialMatch {
  binds: Array<AlphaBind | null>
  hashKey: HashKey = 0
  owner: MemoryOwnerRef | null = null
  readonly isAlpha: boolean
  rhsMemory = false
  nextInMemory: PartialMatch | null = null
  prevInMemory: PartialMatch | null = null
  children: PartialMatch | null = null
  leftParent: PartialMatch | null = null
  rightParent: PartialMatch | null = null
  nextLeftChild: PartialMatch | null = null
  prevLeftChild: PartialMatch | null = null
  nextRightChild: PartialMatch | null = null
  prevRightChild: PartialMatch | null = null
  blockList: PartialMatch | null = null
  nextBlocked: PartialMatch | null = null
  prevBlocked: PartialMatch | null = null
  marker: PartialMatch | null = null
  activation: ActivationRef | null = null
  constructor(binds: Array<AlphaBind | null>, isAlpha: boolean) {
    this.binds = binds
    this.isAlpha = isAlpha
  }
}

/** One hash bucket: a doubly linked list of matches. */
export interface MemoryBucket {
  head: PartialMatch | null
  tail: PartialMatch | null
  readonly key: HashKey
}

/** Told when a memory goes from empty to non-empty and back (left unlinking; see state.ts). */
export interface MemoryListener {
  filled(): void
  emptied(): void
}

/** A hashed memory: buckets by key (an unhashed memory uses the single key 0). */
export class Memory {
  /** Buckets of non-zero keys (created on first use). */
  private buckets: Map<HashKey, MemoryBucket> | null = null
  count = 0
  /** Empty buckets kept for reuse; swept when they pile up. */
  private empties = 0
  /** The bucket of key 0 (unhashed memories use only this one). */
  private readonly zero: MemoryBucket = { head: null, tail: null, key: 0 }
  constructor(private readonly listener: MemoryListener | null = null) {}

  /** The first match of the bucket for `key`, or null. */
  first(key: HashKey): PartialMatch | null {
    if (key === 0) return this.zero.head
    if (this.buckets === null) return null
    const b = this.buckets.get(key)
    return b === undefined ? null : b.head
  }

  private bucketFor(key: HashKey): MemoryBucket {
    if (key === 0) return this.zero
    if (this.buckets === null) this.buckets = new Map()
    let b = this.buckets.get(key)
    if (b === undefined) {
      b = { head: null, tail: null, key }
      this.buckets.set(key, b)
    }
    return b
  }

  /** Inserts at the head of its bucket (left beta memories). */
  prepend(pm: PartialMatch): void {
    const b = this.bucketFor(pm.hashKey)
    pm.prevInMemory = null
    pm.nextInMemory = b.head
    if (b.head !== null) b.head.prevInMemory = pm
    else b.tail = pm
    b.head = pm
    if (this.count++ === 0 && this.listener !== null) this.listener.filled()
  }

  /** Appends at the tail of its bucket (right beta memories, alpha memories). */
  append(pm: PartialMatch): void {
    const b = this.bucketFor(pm.hashKey)
    pm.nextInMemory = null
    pm.prevInMemory = b.tail
    if (b.tail !== null) b.tail.nextInMemory = pm
    else b.head = pm
    b.tail = pm
    if (this.count++ === 0 && this.listener !== null) this.listener.filled()
  }

  /** Removes a match from its bucket. */
  remove(pm: PartialMatch): void {
    const b = pm.hashKey === 0 ? this.zero : this.buckets?.get(pm.hashKey)
    if (b === undefined) return
    if (pm.prevInMemory === null) b.head = pm.nextInMemory
    else pm.prevInMemory.nextInMemory = pm.nextInMemory
    if (pm.nextInMemory === null) b.tail = pm.prevInMemory
    else pm.nextInMemory.prevInMemory = pm.prevInMemory
    pm.nextInMemory = null
    pm.prevInMemory = null
    if (--this.count === 0 && this.listener !== null) this.listener.emptied()
    if (b.head === null && b !== this.zero && ++this.empties > 256 && this.empties * 2 > this.buckets!.size) this.sweep()
  }

  /** Drops empty buckets (kept otherwise so steady-state churn does not reallocate them). */
  private sweep(): void {
    for (const [k, b] of this.buckets!) if (b.head === null) this.buckets!.delete(k)
    this.empties = 0
  }

  /** Every match, bucket by bucket (diagnostics and snapshots only). */
  *all(): IterableIterator<PartialMatch> {
    for (let p = this.zero.head; p !== null; p = p.nextInMemory) yield p
    if (this.buckets !== null) for (const b of this.buckets.values()) for (let p = b.head; p !== null; p = p.nextInMemory) yield p
  }
}

/** A match with one empty (null) bind: the seed of not/exists-first joins and pattern-less rules. */
export const emptyMatch = (): PartialMatch => new Match([null], false)

/** Links `pm` under `blocker` (CLIPS AddBlockedLink: prepends to the block list). */
export const addBlockedLink = (pm: PartialMatch, blocker: PartialMatch): void => {
  pm.marker = blocker
  pm.nextBlocked = blocker.blockList
  if (blocker.blockList !== null) blocker.blockList.prevBlocked = pm
  blocker.blockList = pm
}

/** Unlinks `pm` from the block list of its blocker. */
export const removeBlockedLink = (pm: PartialMatch): void => {
  const blocker = pm.marker
  if (pm.prevBlocked === null) {
    if (blocker !== null) blocker.blockList = pm.nextBlocked
  } else pm.prevBlocked.nextBlocked = pm.nextBlocked
  if (pm.nextBlocked !== null) pm.nextBlocked.prevBlocked = pm.prevBlocked
  pm.nextBlocked = null
  pm.prevBlocked = null
  pm.marker = null
}

/** Records `pm` as a child of its parents (CLIPS UpdateBetaPMLinks, lineage part). */
export const linkLineage = (pm: PartialMatch, lhs: PartialMatch | null, rhs: PartialMatch | null): void => {
  if (rhs !== null) {
    pm.nextRightChild = rhs.children
    if (rhs.children !== null) rhs.children.prevRightChild = pm
    rhs.children = pm
    pm.rightParent = rhs
  }
  if (lhs !== null) {
    pm.nextLeftChild = lhs.children
    if (lhs.children !== null) lhs.children.prevLeftChild = pm
    lhs.children = pm
    pm.leftParent = lhs
  }
}

/** Unlinks from the right parent and the blocker (CLIPS UnlinkNonLeftLineage, lineage part). */
export const unlinkNonLeftLineage = (pm: PartialMatch): void => {
  if (pm.prevRightChild === null) {
    if (pm.rightParent !== null) {
      pm.rightParent.children = pm.nextRightChild
      if (pm.nextRightChild !== null) pm.nextRightChild.rightParent = pm.rightParent
    }
  } else pm.prevRightChild.nextRightChild = pm.nextRightChild
  if (pm.nextRightChild !== null) pm.nextRightChild.prevRightChild = pm.prevRightChild
  if (pm.prevBlocked === null) {
    if (pm.marker !== null) pm.marker.blockList = pm.nextBlocked
  } else pm.prevBlocked.nextBlocked = pm.nextBlocked
  if (pm.nextBlocked !== null) pm.nextBlocked.prevBlocked = pm.prevBlocked
}

/** Unlinks from both parents, the blocker and the children (CLIPS UnlinkBetaPartialMatchfromAlphaAndBetaLineage). */
export const unlinkFullLineage = (pm: PartialMatch): void => {
  if (pm.prevRightChild === null) {
    if (pm.rightParent !== null) pm.rightParent.children = pm.nextRightChild
  } else pm.prevRightChild.nextRightChild = pm.nextRightChild
  if (pm.nextRightChild !== null) pm.nextRightChild.prevRightChild = pm.prevRightChild
  pm.rightParent = null
  pm.nextRightChild = null
  pm.prevRightChild = null
  if (pm.prevLeftChild === null) {
    if (pm.leftParent !== null) pm.leftParent.children = pm.nextLeftChild
  } else pm.prevLeftChild.nextLeftChild = pm.nextLeftChild
  if (pm.nextLeftChild !== null) pm.nextLeftChild.prevLeftChild = pm.prevLeftChild
  pm.leftParent = null
  pm.nextLeftChild = null
  pm.prevLeftChild = null
  if (pm.prevBlocked === null) {
    if (pm.marker !== null) pm.marker.blockList = pm.nextBlocked
  } else pm.prevBlocked.nextBlocked = pm.nextBlocked
  if (pm.nextBlocked !== null) pm.nextBlocked.prevBlocked = pm.prevBlocked
  pm.marker = null
  pm.nextBlocked = null
  pm.prevBlocked = null
  if (pm.children !== null) {
    if (pm.rhsMemory) for (let c: PartialMatch | null = pm.children; c !== null; c = c.nextRightChild) c.rightParent = null
    else for (let c: PartialMatch | null = pm.children; c !== null; c = c.nextLeftChild) c.leftParent = null
    pm.children = null
  }
}

/** True when one of the facts of `pm` is being retracted (CLIPS PartialMatchWillBeDeleted). */
export const willBeDeleted = (pm: PartialMatch | null): boolean => {
  if (pm === null) return false
  const b = pm.binds
  for (let k = 0; k < b.length; k++) {
    const x = b[k]
    if (x !== null && x !== undefined && x.fact.garbage) return true
  }
  return false
}
