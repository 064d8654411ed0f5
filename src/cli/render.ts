/** Human-readable rendering of runs for the terminal. */
import { describeDecision } from "../fathom/Decision.js"
import { type Checkpoint, type RunRecord, type RunSummary, UPDATE_NODE } from "../checkpoint/models.js"
import { forkAnswerCommand } from "../runtime/forkAnswer.js"
import { waitIdOf } from "../checkpoint/waitId.js"

const clip = (text: string, width: number): string => (text.length > width ? text.slice(0, width - 1) + "…" : text)

const pad = (text: string, width: number): string => text.padEnd(width)

/** `text` quoted for a POSIX shell when it needs it. */
export const shellQuote = (text: string): string =>
  /^[A-Za-z0-9_./:@%+=,-]+$/.test(text) ? text : `'${text.replaceAll("'", "'\\''")}'`

/**
 * ` --db <db>` for a command printed as a hint, or nothing when `db` is undefined (the
 * database came from `STARGRAPH_DB`); `db` is already shown without a password.
 */
export const dbOption = (db: string | undefined): string => (db === undefined ? "" : ` --db ${shellQuote(db)}`)

/** `field=value` pairs of a state delta on one line. */
export const formatDelta = (delta: { readonly [k: string]: unknown }, width = 100): string =>
  clip(Object.entries(delta).map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(" ") || "(no change)", width)

/** True for the rules a graph's `edges:` compile to (shown as edges, not as rules). */
const isPlannedRule = (rule: string): boolean => rule.startsWith("edges-from-")

/**
 * What the rules did after a step, in one short text: the rules that fired and the
 * routing they decided (`r-advance → goto node_b`); empty when only edges routed.
 */
export const rulesNote = (rules: { readonly fired: ReadonlyArray<string>; readonly decisions: { readonly [node: string]: string } } | undefined): string => {
  if (rules === undefined) return ""
  const fired = [...new Set(rules.fired.filter((r) => !isPlannedRule(r)))]
  const decided = Object.values(rules.decisions).filter((d) => d !== "continue" && !/\(edges-from-[^)]*\)$/.test(d))
  if (fired.length === 0 && decided.length === 0) return ""
  return `[${[fired.length > 0 ? `fired ${fired.join(", ")}` : "", ...decided].filter((x) => x !== "").join("; ")}]`
}

/** The rules note of a stored step. */
export const checkpointRulesNote = (c: Checkpoint): string =>
  c.rules === undefined ? "" : rulesNote({
    fired: c.rules.firings.map((f) => f.rule),
    decisions: Object.fromEntries(Object.entries(c.rules.decisions).map(([n, d]) => [n, describeDecision(d)]))
  })

/** Who made a stored edit of the state (an `__update__` step) and who its write is attributed to: `[edited by alice as plan]`. */
const editNote = (c: Checkpoint): string => {
  const request = c.calls?.find((call) => call.node === UPDATE_NODE)?.request
  const by = request !== null && typeof request === "object" && "actor" in request && typeof request.actor === "string" ? ` by ${request.actor}` : ""
  const writer = c.writes[0]?.node
  return `[edited${by}${writer !== undefined && writer !== UPDATE_NODE ? ` as ${writer}` : ""}]`
}

/** A child run a parent step started: the step, its node and the child's run id. */
export interface ChildRunId {
  readonly step: number
  readonly node: string
  readonly runId: string
}

/**
 * A child run of a `subgraph` or `map` node, with its checkpoints (for nested timelines)
 * and the children of its own uncommitted step (`uncommitted`, see {@link childRunIds}).
 */
export interface ChildRun {
  readonly record: RunRecord
  readonly checkpoints: ReadonlyArray<Checkpoint>
  readonly uncommitted?: ReadonlyArray<ChildRunId> | undefined
}

/**
 * The child runs a run's steps started, by step: the `subgraph` and `map` calls of its
 * committed steps, then `uncommitted`, the children of the step it runs, waits at or
 * stopped in (found by their keys: `uncommittedChildren`), in item order, and the child
 * its wait names if not among them. Each child once.
 */
export const childRunIds = (run: RunRecord, checkpoints: ReadonlyArray<Checkpoint>, uncommitted: ReadonlyArray<ChildRunId> = []): ReadonlyArray<ChildRunId> => {
  const ids: Array<ChildRunId> = []
  for (const c of checkpoints) {
    for (const call of c.calls ?? []) {
      const runId = call.name === "subgraph" ? (call.response as { readonly run_id?: unknown } | null)?.run_id : undefined
      if (typeof runId === "string") ids.push({ step: c.step, node: call.node, runId })
      // A `map` node's children, in item order, each item's failed attempts (`retry`) before its last.
      const mapped = call.name === "map" ? (call.response as { readonly run_ids?: unknown; readonly retried?: unknown } | null) : undefined
      const runIds = mapped?.run_ids
      const retried = typeof mapped?.retried === "object" && mapped.retried !== null ? (mapped.retried as { readonly [item: string]: unknown }) : {}
      if (Array.isArray(runIds)) {
        for (const [item, id] of runIds.entries()) {
          const failed = retried[String(item)]
          if (Array.isArray(failed)) for (const f of failed) if (typeof f === "string") ids.push({ step: c.step, node: call.node, runId: f })
          if (typeof id === "string") ids.push({ step: c.step, node: call.node, runId: id })
        }
      }
    }
  }
  const seen = new Set(ids.map((c) => c.runId))
  for (const c of uncommitted) {
    if (seen.has(c.runId)) continue
    seen.add(c.runId)
    ids.push(c)
  }
  const waitingOn = run.waiting?.payload?.["child_run_id"]
  if (run.status === "awaiting-input" && typeof waitingOn === "string" && !seen.has(waitingOn)) ids.push({ step: run.waiting!.step, node: run.waiting!.node, runId: waitingOn })
  return ids
}

/** How deep nested timelines go. */
const MAX_NESTING = 4

/**
 * The step table: step, node, status, duration, state delta. With `children`, each step
 * that ran a child graph is followed by the child run's own table, indented: the step
 * being run or waited at too, with the children it has started so far (`uncommitted`).
 */
export const timeline = (
  run: RunRecord,
  checkpoints: ReadonlyArray<Checkpoint>,
  children?: (runId: string) => ChildRun | undefined,
  depth = 0,
  uncommitted: ReadonlyArray<ChildRunId> = []
): ReadonlyArray<string> => {
  const last = checkpoints[checkpoints.length - 1]
  const nextStep = String((last?.step ?? 0) + 1)
  const failedAt = run.error !== null && run.error !== undefined && typeof run.error.details["nodeId"] === "string" ? run.error.details["nodeId"] : undefined
  const nextNodes = last?.next.join(",") ?? ""
  // As wide as the longest node shown (the rows after the last step too), and two spaces after it.
  const nodeWidth = Math.max(10, ...checkpoints.map((c) => c.node.length), run.waiting?.node.length ?? 0, failedAt?.length ?? 0, nextNodes.length) + 1
  const lines = [`${pad("step", 5)} ${pad("node", nodeWidth)} ${pad("status", 15)} ${pad("duration", 10)} delta`]
  const nested = children === undefined || depth >= MAX_NESTING ? [] : childRunIds(run, checkpoints, uncommitted)
  const childLines = (step: number): ReadonlyArray<string> =>
    nested.filter((n) => n.step === step).flatMap((n) => {
      const child = children?.(n.runId)
      if (child === undefined) return [`      ↳ child run ${n.runId} (not in this database)`]
      return [
        `      ↳ child run ${n.runId}  graph ${child.record.graph_id}  status ${child.record.status}`,
        ...timeline(child.record, child.checkpoints, children, depth + 1, child.uncommitted).map((l) => `        ${l}`)
      ]
    })
  for (const c of checkpoints) {
    const edited = c.node === UPDATE_NODE
    const status = c.step === 0 ? (c.parent_run_id ? (run.derived_hash === null ? "child" : "forked") : "input") : edited ? "state edited" : "completed"
    const note = edited ? editNote(c) : checkpointRulesNote(c)
    lines.push(`${pad(String(c.step), 5)} ${pad(c.node, nodeWidth)} ${pad(status, 15)} ${pad(`${c.duration_ms.toFixed(1)} ms`, 10)} ${formatDelta(c.delta)}${note ? `  ${note}` : ""}`)
    lines.push(...childLines(c.step))
  }
  if (run.status === "awaiting-input" && run.waiting) {
    const item = run.waiting.payload?.["item"]
    lines.push(`${pad(String(run.waiting.step), 5)} ${pad(run.waiting.node, nodeWidth)} ${pad("awaiting-input", 15)} ${pad("-", 10)} ${run.waiting.prompt}${typeof item === "number" ? `  (item ${item} asks)` : ""}`)
    lines.push(...childLines(run.waiting.step))
  } else if ((run.status === "failed" || run.status === "error") && run.error) {
    const node = failedAt ?? nextNodes
    lines.push(`${pad(nextStep, 5)} ${pad(node, nodeWidth)} ${pad(run.status, 15)} ${pad("-", 10)} ${clip(run.error.message, 100)}`)
    lines.push(...childLines(Number(nextStep)))
  } else if (run.status !== "done" && last && last.next.length > 0) {
    const label = run.status === "running" || run.status === "paused" || run.status === "cancelled" ? run.status : "pending"
    lines.push(`${pad(nextStep, 5)} ${pad(nextNodes, nodeWidth)} ${pad(label, 15)} ${pad("-", 10)}`)
    lines.push(...childLines(Number(nextStep)))
  }
  return lines
}

/**
 * A failed run's whole cause, one line of it a line under `error cause:` (the timeline's
 * row shows its first line): nothing when the record has no cause of more than one line.
 */
export const errorCauseLines = (run: RunRecord): ReadonlyArray<string> => {
  const cause = run.error?.details["cause"]
  if (typeof cause !== "string" || !cause.includes("\n")) return []
  return ["", "error cause:", ...cause.split("\n").map((line) => `  ${line}`)]
}

/**
 * The block printed by `stargraph run` / `resume` before the final `run_id=… status=…`
 * line (the state under `final state:` for a run that ended, `state so far:` for one that
 * stopped and can go on); `db` is the `--db` its hints carry (see {@link dbOption}).
 */
export const summaryBlock = (
  summary: RunSummary,
  run: RunRecord,
  checkpoints: ReadonlyArray<Checkpoint>,
  db?: string
): ReadonlyArray<string> => [
  `graph ${summary.graph_id}  ${summary.graph_hash}`,
  ...timeline(run, checkpoints),
  // A run that stopped (waiting for input, paused) goes on: its state is not final yet.
  summary.status === "awaiting-input" || summary.status === "paused" || summary.status === "running" || summary.status === "pending" ? "state so far:" : "final state:",
  ...Object.entries(summary.final_state).map(([k, v]) => `  ${k}: ${clip(JSON.stringify(v), 120)}`),
  ...haltLines(checkpoints),
  ...waitingLines(summary, db, run.live_after_fork)
]

/**
 * For a run waiting for input: the question and the command that answers it, naming its
 * wait (`--wait-id`; at a breakpoint: the command that continues it), with `--db <db>`
 * unless `db` is undefined; a fork's with `--live-after-fork` unless it allows live calls
 * already (`liveAfterFork`).
 */
export const waitingLines = (summary: RunSummary, db?: string, liveAfterFork?: boolean): ReadonlyArray<string> => {
  const resume = `stargraph resume ${summary.run_id}${dbOption(db)}`
  if (summary.waiting?.kind === "breakpoint") {
    return summary.status === "awaiting-input" ? [`paused at a ${summary.waiting.prompt}`, `  continue with: ${resume}`] : []
  }
  // A `map` node's item that asked: which one (its child run is in the payload, and in inspect's children).
  const item = summary.waiting?.payload?.["item"]
  const child = summary.waiting?.payload?.["child_run_id"]
  const of = typeof item === "number" && typeof child === "string" ? ` (item ${item}, child run ${child})` : ""
  // A fork: an answer takes it past its parent's recording (the parent had not answered,
  // or answered otherwise), so the command allows the live calls what follows may need.
  // A fork made (or answered) with live calls allowed keeps them: its answer needs no flag.
  // Else the answer names the wait it is for: given after the run asked something else, it is refused.
  const answer = summary.fork_step !== null && liveAfterFork !== true
    ? forkAnswerCommand(summary.run_id, dbOption(db))
    : `stargraph respond ${summary.run_id}${dbOption(db)}${summary.waiting ? ` --wait-id ${waitIdOf(summary.waiting)}` : ""} --response '<json>'`
  return summary.waiting ? [`waiting at '${summary.waiting.node}'${of}: ${summary.waiting.prompt}`, `  answer with: ${answer}`] : []
}

/** `halted at node_b by r-halt: <reason>` when a rule or a halt node ended the run. */
const haltLines = (checkpoints: ReadonlyArray<Checkpoint>): ReadonlyArray<string> => {
  const decisions = checkpoints[checkpoints.length - 1]?.rules?.decisions ?? {}
  for (const [node, d] of Object.entries(decisions)) {
    if (d._tag === "halt") return [`halted at ${node}${d.rule ? ` by ${d.rule}` : ""}${d.reason ? `: ${d.reason}` : ""}`]
  }
  return []
}

/** The last stdout line of `run` and `resume`. */
export const finalLine = (summary: Pick<RunSummary, "run_id" | "status">): string =>
  `run_id=${summary.run_id} status=${summary.status}`
