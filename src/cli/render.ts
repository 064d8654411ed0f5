/** Human-readable rendering of runs for the terminal. */
import type { Checkpoint, RunRecord, RunSummary } from "../checkpoint/models.js"

const clip = (text: string, width: number): string => (text.length > width ? text.slice(0, width - 1) + "…" : text)

const pad = (text: string, width: number): string => text.padEnd(width)

/** `text` quoted for a POSIX shell when it needs it. */
export const shellQuote = (text: string): string =>
  /^[A-Za-z0-9_./:@%+=,-]+$/.test(text) ? text : `'${text.replaceAll("'", "'\\''")}'`

/** `field=value` pairs of a state delta on one line. */
export const formatDelta = (delta: { readonly [k: string]: unknown }, width = 100): string =>
  clip(Object.entries(delta).map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(" ") || "(no change)", width)

/** The step table: step, node, status, duration, state delta. */
export const timeline = (run: RunRecord, checkpoints: ReadonlyArray<Checkpoint>): ReadonlyArray<string> => {
  const nodeWidth = Math.max(10, ...checkpoints.map((c) => c.node.length), run.waiting?.node.length ?? 0)
  const lines = [`${pad("step", 5)} ${pad("node", nodeWidth)} ${pad("status", 15)} ${pad("duration", 10)} delta`]
  for (const c of checkpoints) {
    const status = c.step === 0 ? (c.parent_run_id ? "forked" : "input") : "completed"
    lines.push(`${pad(String(c.step), 5)} ${pad(c.node, nodeWidth)} ${pad(status, 15)} ${pad(`${c.duration_ms.toFixed(1)} ms`, 10)} ${formatDelta(c.delta)}`)
  }
  const last = checkpoints[checkpoints.length - 1]
  const nextStep = String((last?.step ?? 0) + 1)
  if (run.status === "awaiting-input" && run.waiting) {
    lines.push(`${pad(String(run.waiting.step), 5)} ${pad(run.waiting.node, nodeWidth)} ${pad("awaiting-input", 15)} ${pad("-", 10)} ${run.waiting.prompt}`)
  } else if ((run.status === "failed" || run.status === "error") && run.error) {
    const node = typeof run.error.details["nodeId"] === "string" ? run.error.details["nodeId"] : (last?.next.join(",") ?? "")
    lines.push(`${pad(nextStep, 5)} ${pad(node, nodeWidth)} ${pad(run.status, 15)} ${pad("-", 10)} ${clip(run.error.message, 100)}`)
  } else if (run.status !== "done" && last && last.next.length > 0) {
    const label = run.status === "running" || run.status === "paused" || run.status === "cancelled" ? run.status : "pending"
    lines.push(`${pad(nextStep, 5)} ${pad(last.next.join(","), nodeWidth)} ${pad(label, 15)} ${pad("-", 10)}`)
  }
  return lines
}

/** The block printed by `stargraph run` / `resume` before the final `run_id=… status=…` line. */
export const summaryBlock = (
  summary: RunSummary,
  run: RunRecord,
  checkpoints: ReadonlyArray<Checkpoint>,
  db?: string
): ReadonlyArray<string> => [
  `graph ${summary.graph_id}  ${summary.graph_hash}`,
  ...timeline(run, checkpoints),
  "final state:",
  ...Object.entries(summary.final_state).map(([k, v]) => `  ${k}: ${clip(JSON.stringify(v), 120)}`),
  ...(summary.waiting
    ? [`waiting at '${summary.waiting.node}': ${summary.waiting.prompt}`, `  answer with: stargraph resume ${summary.run_id}${db === undefined ? "" : ` --db ${shellQuote(db)}`} --response '<json>'`]
    : [])
]

/** The last stdout line of `run` and `resume`. */
export const finalLine = (summary: Pick<RunSummary, "run_id" | "status">): string =>
  `run_id=${summary.run_id} status=${summary.status}`
