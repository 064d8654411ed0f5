/**
 * Propagating matches through the join network (CLIPS drive.c and retract.c): entering
 * joins from the right (a new alpha match) and from the left (a new partial match),
 * not/exists blocking, joins from the right (sub-networks of not/and groups), and the
 * retraction paths that remove descendants and unblock negated matches. The order of
 * every loop follows CLIPS so activations are created in the same order.
 */
import type { Env } from "../evaluation.js"
import type { Fact } from "../templates.js"
import type { AlphaNode } from "./alpha.js"
import type { JoinNode, JoinTest, RuleRef } from "./join.js"
import type { ActivationRef } from "../model.js"
import type { AlphaState, JoinState, NetworkState } from "./state.js"
import {
  addBlockedLink,
  emptyMatch,
  linkLineage,
  Match,
  type PartialMatch,
  removeBlockedLink,
  unlinkFullLineage,
  unlinkNonLeftLineage,
  willBeDeleted,
  type AlphaBind,
  type HashKey
} from "./partial-match.js"

/** Whether matches are being added (assert) or removed (retract) when a join is entered. */
export const ASSERT = 0
export const RETRACT = 1
type Op = typeof ASSERT | typeof RETRACT

/** What the join network needs from the engine. */
export interface DriveHost {
  /** A reusable environment for join tests. */
  readonly env: Env
  /** The engine's memories. */
  readonly net: NetworkState
  addActivation(rule: RuleRef, pm: PartialMatch): void
  removeActivation(act: ActivationRef): void
  /** Reports a join-test evaluation error (the test counts as failed). */
  testError(error: unknown, join: JoinNode): void
}

const evalTest = (host: DriveHost, test: JoinTest, join: JoinNode, lhs: PartialMatch | null, rhs: PartialMatch | null, errorResult: boolean): boolean => {
  const env = host.env
  const oldL = env.lhs
  const oldR = env.rhs
  env.lhs = lhs
  env.rhs = rhs
  try {
    return test.fn(env)
  } catch (e) {
    host.testError(e, join)
    return errorResult
  } finally {
    env.lhs = oldL
    env.rhs = oldR
  }
}

/** Appends `rhs`'s single bind to `lhs`'s binds (CLIPS MergePartialMatches). */
const merge = (lhs: PartialMatch, rhs: PartialMatch | null): PartialMatch => {
  const src = lhs.binds
  const n = src.length
  const b: Array<AlphaBind | null> = new Array<AlphaBind | null>(n + 1)
  for (let i = 0; i < n; i++) b[i] = src[i]!
  b[n] = rhs === null ? null : rhs.binds[0]!
  return new Match(b, false)
}

const store = (pm: PartialMatch, lhs: PartialMatch | null, rhs: PartialMatch | null, js: JoinState, key: HashKey, side: "LHS" | "RHS"): void => {
  pm.hashKey = key
  pm.owner = js
  if (side === "LHS") {
    pm.rhsMemory = false
    js.left!.prepend(pm)
  } else {
    pm.rhsMemory = true
    js.right!.append(pm)
  }
  linkLineage(pm, lhs, rhs)
}

/** An alpha match enters a join it feeds (CLIPS NetworkAssert). */
export const networkAssert = (host: DriveHost, binds: PartialMatch, js: JoinState): void => {
  if (js.join.firstJoin) emptyDrive(host, js, binds, ASSERT)
  else networkAssertRight(host, binds, js, ASSERT)
}

/** A match enters a join from the right. */
export const networkAssertRight = (host: DriveHost, rhs: PartialMatch, js: JoinState, op: Op): void => {
  const join = js.join
  if (join.firstJoin) {
    emptyDrive(host, js, rhs, op)
    return
  }
  const left = js.left!
  if (left.count === 0) return
  let lhs = left.first(rhs.hashKey)
  while (lhs !== null) {
    const next: PartialMatch | null = lhs.nextInMemory
    if (lhs.marker !== null) {
      lhs = next
      continue
    }
    let ok = join.networkTest === null ? true : evalTest(host, join.networkTest, join, lhs, rhs, join.patternIsNegated)
    if (ok && join.secondaryNetworkTest !== null) ok = evalTest(host, join.secondaryNetworkTest, join, lhs, rhs, false)
    if (ok) {
      if (join.patternIsExists) {
        addBlockedLink(lhs, rhs)
        ppDrive(host, lhs, null, js, op)
      } else if (join.patternIsNegated || join.joinFromTheRight) {
        addBlockedLink(lhs, rhs)
        if (lhs.children !== null) posEntryRetractBeta(host, lhs, lhs.children, op)
      } else ppDrive(host, lhs, rhs, js, op)
    }
    lhs = next
  }
}

/** A match enters a join from the left. */
export const networkAssertLeft = (host: DriveHost, lhs: PartialMatch, js: JoinState, op: Op): void => {
  if (op === RETRACT && willBeDeleted(lhs)) return
  const join = js.join
  if (join.ruleToActivate !== null) {
    host.addActivation(join.ruleToActivate, lhs)
    return
  }
  if (join.rightSideEntry === null) {
    const ok = join.networkTest === null ? true : evalTest(host, join.networkTest, join, lhs, null, false)
    if (ok) ppDrive(host, lhs, null, js, op)
    return
  }
  let rhs: PartialMatch | null
  if (join.joinFromTheRight) rhs = js.right!.first(lhs.hashKey)
  else {
    const alpha = host.net.alphas[(join.rightSideEntry as AlphaNode).id]
    rhs = alpha === undefined ? null : alpha.memory.first(lhs.hashKey)
  }
  while (rhs !== null) {
    if (op === RETRACT && willBeDeleted(rhs)) {
      rhs = rhs.nextInMemory
      continue
    }
    let ok = join.networkTest === null ? true : evalTest(host, join.networkTest, join, lhs, rhs, join.patternIsNegated)
    if (ok && join.secondaryNetworkTest !== null && join.patternIsExists) ok = evalTest(host, join.secondaryNetworkTest, join, lhs, rhs, false)
    if (ok) {
      if (!join.patternIsNegated && !join.patternIsExists && !join.joinFromTheRight) ppDrive(host, lhs, rhs, js, op)
      else if (join.patternIsExists) {
        addBlockedLink(lhs, rhs)
        ppDrive(host, lhs, null, js, op)
        return
      } else {
        addBlockedLink(lhs, rhs)
        break
      }
    }
    rhs = rhs.nextInMemory
  }
  if ((join.patternIsNegated || join.joinFromTheRight) && !join.patternIsExists && lhs.marker === null) {
    if (join.secondaryNetworkTest !== null) {
      if (evalTest(host, join.secondaryNetworkTest, join, lhs, null, false)) ppDrive(host, lhs, null, js, op)
    } else ppDrive(host, lhs, null, js, op)
  }
}

/** Sends the merge of `lhs` and `rhs` to every successor of `join`, newest first (CLIPS PPDrive). */
export const ppDrive = (host: DriveHost, lhs: PartialMatch, rhs: PartialMatch | null, js: JoinState, op: Op): void => {
  const links = js.join.nextLinks
  for (let k = links.length - 1; k >= 0; k--) {
    const link = links[k]!
    const next = link.join
    const ns = host.net.join(next)
    const linker = merge(lhs, rhs)
    let key: HashKey = 0
    if (link.enterDirection === "LHS") {
      if (next.leftHash !== null) key = next.leftHash.fn(linker)
    } else if (next.rightHash !== null) key = next.rightHash.fn(linker)
    store(linker, lhs, rhs, ns, key, link.enterDirection)
    if (link.enterDirection === "LHS") networkAssertLeft(host, linker, ns, op)
    else networkAssertRight(host, linker, ns, op)
  }
}

/** Sends an empty match below a first not/sub-network join (CLIPS EPMDrive). */
export const epmDrive = (host: DriveHost, parent: PartialMatch, js: JoinState, op: Op): void => {
  const links = js.join.nextLinks
  for (let k = links.length - 1; k >= 0; k--) {
    const link = links[k]!
    const ns = host.net.join(link.join)
    const linker = emptyMatch()
    store(linker, parent, null, ns, 0, link.enterDirection)
    if (link.enterDirection === "LHS") networkAssertLeft(host, linker, ns, op)
    else networkAssertRight(host, linker, ns, op)
  }
}

/** A match enters a rule's first join (CLIPS EmptyDrive). */
const emptyDrive = (host: DriveHost, js: JoinState, rhs: PartialMatch, op: Op): void => {
  const join = js.join
  if (join.networkTest !== null && !evalTest(host, join.networkTest, join, null, rhs, false)) return
  if (join.secondaryNetworkTest !== null && !evalTest(host, join.secondaryNetworkTest, join, null, rhs, false)) return
  if (join.patternIsNegated || (join.joinFromTheRight && !join.patternIsExists)) {
    const notParent = js.emptyLeft!
    if (notParent.marker !== null) return
    addBlockedLink(notParent, rhs)
    if (notParent.children !== null) posEntryRetractBeta(host, notParent, notParent.children, op)
    return
  }
  let existsParent: PartialMatch | null = null
  if (join.patternIsExists) {
    existsParent = js.emptyLeft!
    if (existsParent.marker !== null) return
    addBlockedLink(existsParent, rhs)
  }
  const links = join.nextLinks
  for (let k = links.length - 1; k >= 0; k--) {
    const link = links[k]!
    const next = link.join
    const ns = host.net.join(next)
    const linker = join.patternIsExists ? emptyMatch() : new Match(rhs.binds.slice(), false)
    let key: HashKey = 0
    if (link.enterDirection === "LHS") {
      if (next.leftHash !== null) key = next.leftHash.fn(linker)
    } else if (next.rightHash !== null) key = next.rightHash.fn(linker)
    if (join.patternIsExists) store(linker, existsParent, null, ns, key, link.enterDirection)
    else store(linker, null, rhs, ns, key, link.enterDirection)
    if (link.enterDirection === "LHS") networkAssertLeft(host, linker, ns, op)
    else networkAssertRight(host, linker, ns, op)
  }
}

// ---------------------------------------------------------------------------
// Retraction
// ---------------------------------------------------------------------------

/** Removes a retracted fact's matches from the network (CLIPS NetworkRetract). */
export const networkRetract = (host: DriveHost, fact: Fact): void => {
  const matches = fact.matches
  if (matches === null) return
  for (let k = matches.length - 1; k >= 0; k--) {
    const pm = matches[k]!
    if (pm.children !== null) posEntryRetractAlpha(host, pm, RETRACT)
    if (pm.blockList !== null) negEntryRetractAlpha(host, pm, RETRACT)
    ;(pm.owner as AlphaState).memory.remove(pm)
  }
  fact.matches = null
}

const unlinkFromNode = (pm: PartialMatch): void => {
  const js = pm.owner as JoinState
  const mem = pm.rhsMemory ? js.right! : js.left!
  mem.remove(pm)
}

/** Removes the descendants of an alpha match (CLIPS PosEntryRetractAlpha). */
export const posEntryRetractAlpha = (host: DriveHost, alphaMatch: PartialMatch, op: Op): void => {
  let beta = alphaMatch.children
  while (beta !== null) {
    const join = (beta.owner as JoinState).join
    if (beta.children !== null) posEntryRetractBeta(host, beta, beta.children, op)
    if (beta.rhsMemory) negEntryRetractAlpha(host, beta, op)
    if (join.ruleToActivate !== null && beta.activation !== null) host.removeActivation(beta.activation)
    const next: PartialMatch | null = beta.nextRightChild
    unlinkFromNode(beta)
    unlinkFullLineage(beta)
    beta = next
  }
}

/** Unblocks the matches an alpha (or right-memory) match was blocking (CLIPS NegEntryRetractAlpha). */
const negEntryRetractAlpha = (host: DriveHost, alphaMatch: PartialMatch, op: Op): void => {
  let beta = alphaMatch.blockList
  while (beta !== null) {
    const js = beta.owner as JoinState
    const join = js.join
    if (!join.patternIsNegated && !join.patternIsExists && !join.joinFromTheRight) {
      beta = beta.nextBlocked
      continue
    }
    negEntryRetractBeta(host, js, alphaMatch, beta, op)
    beta = alphaMatch.blockList
  }
}

const negEntryRetractBeta = (host: DriveHost, js: JoinState, alphaMatch: PartialMatch, beta: PartialMatch, op: Op): void => {
  const join = js.join
  removeBlockedLink(beta)
  if (findNextConflictingMatch(host, beta, alphaMatch.nextInMemory, join, alphaMatch, op)) return
  if (join.patternIsExists) {
    if (beta.children !== null) posEntryRetractBeta(host, beta, beta.children, op)
    return
  }
  if (join.firstJoin && (join.patternIsNegated || join.joinFromTheRight) && !join.patternIsExists) {
    if (join.secondaryNetworkTest !== null && !evalTest(host, join.secondaryNetworkTest, join, beta, null, false)) return
    epmDrive(host, beta, js, op)
    return
  }
  if (join.secondaryNetworkTest !== null && !evalTest(host, join.secondaryNetworkTest, join, beta, null, false)) return
  if (op === RETRACT && willBeDeleted(beta)) return
  ppDrive(host, beta, null, js, op)
}

/** Removes the descendants of a beta match, deepest first (CLIPS PosEntryRetractBeta). */
export const posEntryRetractBeta = (host: DriveHost, parent: PartialMatch, first: PartialMatch, op: Op): void => {
  let beta: PartialMatch | null = first
  while (beta !== null) {
    if (beta.children !== null) {
      beta = beta.children
      continue
    }
    let next: PartialMatch | null
    if (beta.nextLeftChild !== null) next = beta.nextLeftChild
    else {
      next = beta.leftParent
      beta.leftParent!.children = null
    }
    const owner = (beta.owner as JoinState).join
    if (beta.blockList !== null) negEntryRetractAlpha(host, beta, op)
    else if (owner.ruleToActivate !== null && beta.activation !== null) host.removeActivation(beta.activation)
    unlinkFromNode(beta)
    unlinkNonLeftLineage(beta)
    if (next === parent) return
    beta = next
  }
}

const findNextConflictingMatch = (host: DriveHost, bind: PartialMatch, candidates: PartialMatch | null, join: JoinNode, skip: PartialMatch, op: Op): boolean => {
  for (let c = candidates; c !== null; c = c.nextInMemory) {
    if (c === skip) continue
    if (op === RETRACT && willBeDeleted(c)) continue
    const ok = join.networkTest === null ? true : evalTest(host, join.networkTest, join, bind, c, true)
    if (ok) {
      addBlockedLink(bind, c)
      return true
    }
  }
  return false
}
