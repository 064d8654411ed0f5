/**
 * Building a compiled rule disjunct into the network (CLIPS ConstructJoins): patterns are
 * placed in their template's pattern network, joins are shared while the chain matches
 * an existing one, sub-networks are built for not/exists groups, and a terminal join
 * activates the rule.
 */
import { placePattern, type AlphaNode } from "./alpha.js"
import { createJoin, findShareableJoin, type JoinNode, type JoinRoots, type JoinSpec, type RuleRef } from "./join.js"
import type { JoinStep } from "./lhs.js"

const EMPTY_SPEC: JoinSpec = {
  networkTest: null,
  secondaryNetworkTest: null,
  leftHash: null,
  rightHash: null,
  negated: false,
  exists: false,
  joinFromTheRight: false
}

interface BuildState {
  lastJoin: JoinNode | null
  tryToReuse: boolean
}

const buildSteps = (roots: JoinRoots, steps: ReadonlyArray<JoinStep>, st: BuildState, created: Array<JoinNode>): void => {
  for (const step of steps) {
    let right: JoinNode | AlphaNode | null = null
    if (step.kind === "pattern") right = placePattern(step.template.network, step.nodes, step.rightHash, roots.ids)
    else if (step.kind === "group") {
      const sub: BuildState = { lastJoin: st.lastJoin, tryToReuse: st.tryToReuse }
      buildSteps(roots, step.steps, sub, created)
      right = sub.lastJoin
    }
    const firstJoin = st.lastJoin === null
    const shared = st.tryToReuse ? findShareableJoin(roots, st.lastJoin, right, firstJoin, step.join) : null
    if (shared !== null) st.lastJoin = shared
    else {
      st.tryToReuse = false
      st.lastJoin = createJoin(roots, st.lastJoin, right, step.join, false)
      created.push(st.lastJoin)
    }
  }
}

/** Builds one disjunct and returns its terminal join plus the joins it created. */
export const buildDisjunct = (roots: JoinRoots, steps: ReadonlyArray<JoinStep>, rule: RuleRef): { terminal: JoinNode; created: Array<JoinNode> } => {
  const created: Array<JoinNode> = []
  const st: BuildState = { lastJoin: null, tryToReuse: true }
  if (steps.length === 0) {
    const shared = findShareableJoin(roots, null, null, true, EMPTY_SPEC)
    if (shared !== null) st.lastJoin = shared
    else {
      st.lastJoin = createJoin(roots, null, null, EMPTY_SPEC, false)
      created.push(st.lastJoin)
    }
  } else buildSteps(roots, steps, st, created)
  const terminal = createJoin(roots, st.lastJoin, null, EMPTY_SPEC, true)
  terminal.ruleToActivate = rule
  created.push(terminal)
  return { terminal, created }
}
