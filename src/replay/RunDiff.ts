/**
 * RunDiff: parent vs fork. Steps are aligned by (step index, node id); each aligned
 * step whose state differs contributes JSON-Patch-like operations (`add`, `remove`,
 * `replace` at `/field/...` paths). Rendered as canonical (RFC 8785) JSON.
 */
import type { Checkpoint } from "../checkpoint/models.js"
import { canonicalJson } from "../ir/hash.js"
import { factDelta, type FactsSnapshot, type TemplateSlots } from "../fathom/facts.js"

/** One state difference. */
export interface PatchOp {
  readonly op: "add" | "remove" | "replace"
  readonly path: string
  /** Value in the parent (absent for `add`). */
  readonly parent?: unknown
  /** Value in the fork (absent for `remove`). */
  readonly fork?: unknown
}

/** A step, identified for alignment. */
export interface StepRef {
  readonly step: number
  readonly node: string
}

/** Parent vs fork. */
export interface RunDiff {
  readonly added_steps: ReadonlyArray<StepRef>
  readonly removed_steps: ReadonlyArray<StepRef>
  /** By `"<step>:<node>"`: how the state after that step differs. */
  readonly state_deltas: { readonly [step: string]: ReadonlyArray<PatchOp> }
  /** By `"<step>:<node>"`: facts in the fork's working memory and not the parent's (asserted), and the reverse. */
  readonly fact_deltas: { readonly [step: string]: { readonly asserted: ReadonlyArray<string>; readonly retracted: ReadonlyArray<string> } }
  readonly derived_hash: string
  /**
   * How each run stopped, when that differs (the status, or the type of the error): a
   * fork that failed where the parent finished, or failed another way. Absent when they
   * stopped alike.
   */
  readonly outcome?: { readonly parent: RunOutcome; readonly fork: RunOutcome } | undefined
}

/** How a run stopped: its status, and its error's type when it has one. */
export interface RunOutcome {
  readonly status: string
  readonly error?: string | undefined
}

const outcomeText = (o: RunOutcome) => `${o.status}${o.error !== undefined ? `:${o.error}` : ""}`

const escape = (key: string) => key.replaceAll("~", "~0").replaceAll("/", "~1")

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v)

/** JSON-Patch-like operations turning `a` into `b`. */
export const patch = (a: unknown, b: unknown, path = ""): Array<PatchOp> => {
  if (canonicalJson(a) === canonicalJson(b)) return []
  if (isObject(a) && isObject(b)) {
    const ops: Array<PatchOp> = []
    for (const key of [...new Set([...Object.keys(a), ...Object.keys(b)])].sort()) {
      const p = `${path}/${escape(key)}`
      if (!(key in b)) ops.push({ op: "remove", path: p, parent: a[key] })
      else if (!(key in a)) ops.push({ op: "add", path: p, fork: b[key] })
      else ops.push(...patch(a[key], b[key], p))
    }
    return ops
  }
  return [{ op: "replace", path: path || "/", parent: a, fork: b }]
}

const key = (c: Checkpoint) => `${c.step}:${c.node}`

/**
 * Compare a parent's checkpoints with its fork's. `initialFacts`: the working memory of a
 * fresh run, which a checkpoint without facts (a run's step 0) stands for.
 */
export const diffRuns = (
  parent: ReadonlyArray<Checkpoint>,
  fork: ReadonlyArray<Checkpoint>,
  derived_hash: string,
  templates: TemplateSlots,
  initialFacts?: FactsSnapshot,
  outcomes?: { readonly parent: RunOutcome; readonly fork: RunOutcome }
): RunDiff => {
  const byKey = new Map(parent.map((c) => [key(c), c]))
  const forkKeys = new Set(fork.map(key))
  const state_deltas: Record<string, ReadonlyArray<PatchOp>> = {}
  const fact_deltas: Record<string, { readonly asserted: ReadonlyArray<string>; readonly retracted: ReadonlyArray<string> }> = {}
  const added_steps: Array<StepRef> = []
  for (const c of fork) {
    const p = byKey.get(key(c))
    if (!p) {
      added_steps.push({ step: c.step, node: c.node })
      continue
    }
    const ops = patch(p.state, c.state)
    if (ops.length > 0) state_deltas[key(c)] = ops
    const facts = factDelta(p.facts ?? initialFacts, c.facts ?? initialFacts, templates)
    if (facts.asserted.length > 0 || facts.retracted.length > 0) fact_deltas[key(c)] = facts
  }
  const removed_steps = parent.filter((c) => !forkKeys.has(key(c))).map((c) => ({ step: c.step, node: c.node }))
  return {
    added_steps,
    removed_steps,
    state_deltas,
    fact_deltas,
    derived_hash,
    ...(outcomes !== undefined && outcomeText(outcomes.parent) !== outcomeText(outcomes.fork) ? { outcome: outcomes } : {})
  }
}

/** The diff as canonical (RFC 8785) JSON. */
export const renderDiff = (diff: RunDiff): string => canonicalJson(diff)
