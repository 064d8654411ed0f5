/**
 * An engine's state of the network: the alpha memory of each stop node, the left and
 * right memories of each join, and the left-unlinking lists. The network itself (alpha.ts,
 * join.ts) is immutable once compiled and shared by every engine instantiated from it;
 * each engine keeps one `NetworkState`, indexed by node id and filled lazily (a node
 * nothing reached has no state), so making an engine and `reset` cost nothing per rule.
 */
import type { MemoryOwnerRef } from "../model.js"
import type { AlphaNode } from "./alpha.js"
import type { JoinNode } from "./join.js"
import { emptyMatch, Memory, type MemoryListener, type PartialMatch } from "./partial-match.js"

/** An engine's state of one stop node: its alpha memory and the joins that can act on a new match. */
export class AlphaState implements MemoryOwnerRef {
  readonly isMemoryOwner = true as const
  readonly memory = new Memory()
  /**
   * The entry joins that can do anything with a new match, in `entryJoin` order: first joins,
   * and joins with a non-empty left memory (left unlinking).
   */
  activeFirst: JoinState | null = null
  activeLast: JoinState | null = null
  constructor(readonly node: AlphaNode) {}
}

/** An engine's state of one join: its memories and its place in the alpha node's active list. */
export class JoinState implements MemoryOwnerRef, MemoryListener {
  readonly isMemoryOwner = true as const
  left: Memory | null = null
  right: Memory | null = null
  /** The empty seed match of a not/exists/sub-network-first join's left memory. */
  emptyLeft: PartialMatch | null = null
  /** The empty seed match of a pattern-less first join's right memory. */
  emptyRight: PartialMatch | null = null
  /** In its alpha node's active list. */
  active = false
  activeNext: JoinState | null = null
  activePrev: JoinState | null = null
  constructor(
    readonly join: JoinNode,
    private readonly net: NetworkState
  ) {}

  filled(): void {
    this.net.linkActive(this)
  }

  emptied(): void {
    this.net.unlinkActive(this)
  }
}

const isAlpha = (x: AlphaNode | JoinNode | null): x is AlphaNode => x !== null && "isAlphaNode" in x

/*
 * Left unlinking. A new alpha match enters every join fed by its alpha node, in
 * `entryJoin` order; a join whose left memory is empty can do nothing with it. Each alpha
 * node's state therefore keeps the joins that can act (first joins, and joins with
 * something on their left) in a list with the same relative order, and the engine walks
 * that one. The order of activations is unchanged: skipped joins would have been no-ops.
 */

/** The states of one engine's network, by node id. */
export class NetworkState {
  readonly joins: Array<JoinState | undefined> = []
  readonly alphas: Array<AlphaState | undefined> = []

  /** The state of a join (created empty, with its seeds, on first use). */
  join(j: JoinNode): JoinState {
    return this.joins[j.id] ?? this.initJoin(j)
  }

  /** The state of a stop node (created empty on first use). */
  alpha(n: AlphaNode): AlphaState {
    return this.alphas[n.id] ?? this.initAlpha(n)
  }

  private initJoin(j: JoinNode): JoinState {
    const s = new JoinState(j, this)
    this.joins[j.id] = s
    if (j.hasLeftMemory) {
      s.left = new Memory(j.firstJoin ? null : s)
      if (j.lastLevel === null) {
        const seed = emptyMatch()
        seed.owner = s
        s.emptyLeft = seed
        s.left.prepend(seed)
      }
    }
    if (j.joinFromTheRight) s.right = new Memory()
    else if (j.lastLevel === null && j.rightSideEntry === null) {
      s.right = new Memory()
      const seed = emptyMatch()
      seed.owner = s
      seed.rhsMemory = true
      s.emptyRight = seed
      s.right.append(seed)
    }
    // A first join is always in its alpha node's active list (added when that list is made).
    if (j.firstJoin && isAlpha(j.rightSideEntry) && this.alphas[j.rightSideEntry.id] !== undefined) this.linkActive(s)
    return s
  }

  private initAlpha(n: AlphaNode): AlphaState {
    const a = new AlphaState(n)
    // The joins that can act, in entryJoin order (registered afterwards, so the first joins
    // created here do not link themselves).
    for (let j = n.entryJoin as JoinNode | null; j !== null; j = j.rightMatchNode) {
      let s = this.joins[j.id]
      if (j.firstJoin) s ??= this.join(j)
      if (s === undefined || !(j.firstJoin || s.left!.count > 0) || s.active) continue
      s.activePrev = a.activeLast
      s.activeNext = null
      if (a.activeLast === null) a.activeFirst = s
      else a.activeLast.activeNext = s
      a.activeLast = s
      s.active = true
    }
    this.alphas[n.id] = a
    return a
  }

  /** Puts a join into its alpha node's active list, at its `entryJoin` position. */
  linkActive(s: JoinState): void {
    const alpha = s.join.rightSideEntry
    if (s.active || !isAlpha(alpha)) return
    const a = this.alpha(alpha)
    if (s.active) return
    let next: JoinNode | null = s.join.rightMatchNode
    let ns: JoinState | null = null
    while (next !== null) {
      const x = this.joins[next.id]
      if (x !== undefined && x.active) {
        ns = x
        break
      }
      next = next.rightMatchNode
    }
    const prev = ns === null ? a.activeLast : ns.activePrev
    s.activePrev = prev
    s.activeNext = ns
    if (prev === null) a.activeFirst = s
    else prev.activeNext = s
    if (ns === null) a.activeLast = s
    else ns.activePrev = s
    s.active = true
  }

  /** Takes a join out of its alpha node's active list. */
  unlinkActive(s: JoinState): void {
    const alpha = s.join.rightSideEntry
    if (!s.active || !isAlpha(alpha)) return
    const a = this.alphas[alpha.id]!
    if (s.activePrev === null) a.activeFirst = s.activeNext
    else s.activePrev.activeNext = s.activeNext
    if (s.activeNext === null) a.activeLast = s.activePrev
    else s.activeNext.activePrev = s.activePrev
    s.activePrev = null
    s.activeNext = null
    s.active = false
  }

  /** The next join to enter after `s` in its alpha node's list (valid even if `s` was unlinked meanwhile). */
  nextActive(s: JoinState): JoinState | null {
    if (s.active) return s.activeNext
    for (let n = s.join.rightMatchNode; n !== null; n = n.rightMatchNode) {
      const x = this.joins[n.id]
      if (x !== undefined && x.active) return x
    }
    return null
  }
}
