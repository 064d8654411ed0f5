/**
 * A reused idempotency key (Stripe's and Temporal's rule: a key names one request). A
 * start or enqueue whose key a run already holds is a retry of that run's request only if
 * it asks for what the run's record keeps: the same graph, params (its `inputs`, compared
 * as canonical JSON: key order and whitespace do not count), thread, `skip_failed` (when
 * the record knows it: a run recorded before it was kept, schema 17, is not refused for it)
 * and breakpoints.
 * Anything else is refused with `RunStateError` (reason `idempotency-key-reused`), naming
 * the key, the run and the first field that differs; nothing is written.
 */
import type { NewRun, RunRecord } from "../checkpoint/models.js"
import { RunStateError } from "../errors.js"
import { canonicalJson } from "../ir/hash.js"
import { jsonEqual } from "../ir/json.js"
import { listSome } from "../ir/limits.js"

/** A field of the request a reused key's run was started with (the HTTP body's names). */
export type RequestField = "graph_id" | "params" | "thread_id" | "skip_failed" | "interrupt_before" | "interrupt_after"

/** How a request differs from the run its key holds: the field, and a short account of how. */
export interface RequestDifference {
  readonly field: RequestField
  readonly detail: string
}

/** The reason `RunStateError` carries for a key held by a run of another request. */
export const KEY_REUSED = "idempotency-key-reused"

const fieldsOf = (value: unknown): { readonly [k: string]: unknown } =>
  value !== null && typeof value === "object" && !Array.isArray(value) ? value as { readonly [k: string]: unknown } : {}

/** The top-level params whose canonical JSON differs between `kept` and `asked` (a missing one included). */
const differingParams = (kept: unknown, asked: unknown): ReadonlyArray<string> => {
  const a = fieldsOf(kept)
  const b = fieldsOf(asked)
  const names = [...new Set([...Object.keys(a), ...Object.keys(b)])].sort()
  const text = (value: unknown) => value === undefined ? "" : canonicalJson(value)
  return names.filter((name) => text(a[name]) !== text(b[name]))
}

/** A breakpoint list as a set: the order it was given in does not count. */
const asSet = (nodes: ReadonlyArray<string> | undefined): string => canonicalJson([...new Set(nodes ?? [])].sort())

/**
 * How `asked` (a run prepared for a start or enqueue, not written) differs from `kept`,
 * the run its idempotency key already holds, or undefined when it asks for that run.
 * Not compared: who asks (`actor`) and the default model in the caller's context (each may
 * differ between honest retries), and `skip_failed` when either side does not know it (a
 * record written before it was kept, a run prepared without it).
 */
export const requestDifference = (kept: RunRecord, asked: NewRun): RequestDifference | undefined => {
  if (kept.graph_id !== asked.graph_id) return { field: "graph_id", detail: `of graph ${kept.graph_id}, not ${asked.graph_id}` }
  if (!jsonEqual(kept.inputs, asked.inputs)) {
    const names = differingParams(kept.inputs, asked.inputs).map((n) => `'${n}'`)
    return { field: "params", detail: `with other params${names.length > 0 ? ` (they differ at ${listSome(names, 5)})` : ""}` }
  }
  const keptThread = kept.thread_id ?? null
  const askedThread = asked.thread_id ?? null
  if (keptThread !== askedThread) {
    return {
      field: "thread_id",
      detail: keptThread === null ? "on no thread" : askedThread === null ? `on thread '${keptThread}', and this request names none` : `on thread '${keptThread}', not '${askedThread}'`
    }
  }
  const keptSkip = kept.skip_failed ?? null
  const askedSkip = asked.skip_failed ?? null
  if (keptSkip !== null && askedSkip !== null && keptSkip !== askedSkip) {
    return { field: "skip_failed", detail: keptSkip ? "passing over the thread's failed and cancelled runs (skip_failed), and this request does not" : "without skip_failed, and this request passes over the thread's failed and cancelled runs" }
  }
  for (const [when, field] of [["before", "interrupt_before"], ["after", "interrupt_after"]] as const) {
    const was = kept.breakpoints?.[when]
    const is = asked.breakpoints?.[when]
    if (asSet(was) !== asSet(is)) {
      const shown = (nodes: ReadonlyArray<string> | undefined) => nodes === undefined || nodes.length === 0 ? "none" : listSome(nodes, 5)
      return { field, detail: `with other breakpoints (${field}: ${shown(was)}, not ${shown(is)})` }
    }
  }
  return undefined
}

/** What to do about a key held by a run of another request. */
export const keyReusedFix = (runId: string): string =>
  `use a new idempotency key for this request, or resend the request run ${runId} was started with (the same graph, params, thread, skip_failed and breakpoints) to get that run back`

/** The refusal of a key `key` that `kept` holds, for a request (`asked`) that differs as `difference` says. */
export const keyReused = (key: string | undefined, kept: RunRecord, asked: NewRun, difference: RequestDifference, operation: string): RunStateError =>
  new RunStateError({
    runId: kept.run_id,
    status: kept.status,
    operation,
    reason: KEY_REUSED,
    field: difference.field,
    message: difference.field === "graph_id"
      ? `idempotency key '${key}' already belongs to run ${kept.run_id} of graph ${kept.graph_id}, not ${asked.graph_id}; ` +
        "use another key for this graph (keys are unique across every graph of the database)"
      : `idempotency key '${key}' already belongs to run ${kept.run_id}, started ${difference.detail}: a key names one request, and this is another (${difference.field} differs); nothing was written`,
    fix: keyReusedFix(kept.run_id)
  })

