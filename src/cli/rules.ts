/**
 * Printing what the rules do: the dry-run trace of `run --inspect`, the fixture results
 * of `simulate`, and one step's facts and firings for `inspect --step`.
 */
import type { Checkpoint } from "../checkpoint/models.js"
import { describeDecision } from "../fathom/Decision.js"
import { renderStored, type TemplateSlots } from "../fathom/facts.js"
import type { DryRun, DryRunStop, Simulated } from "../runtime/dryRun.js"
import { counted } from "./counted.js"

/** The dry-run trace: one line per rule firing, with the node and its decision. */
export const traceLines = (graphHash: string, trace: DryRun): ReadonlyArray<string> => {
  const firings = trace.steps.reduce((n, s) => n + s.fired.length, 0)
  return [
    `graph_hash=${graphHash}`,
    `rule_firings=${firings}`,
    ...trace.steps.flatMap((s) => {
      const nodes = s.nodes.join(",")
      const decisions = Object.values(s.decisions).map(describeDecision).join("; ")
      return s.fired.length === 0
        ? [`  step=${s.step} node=${nodes} fired=none → ${decisions || "continue"}`]
        : s.fired.map((rule) => `  step=${s.step} node=${nodes} rule=${rule} fired=True → ${decisions}`)
    }),
    `ended=${trace.ended}${trace.loop !== undefined ? `: ${loopReason(trace.loop.path)}` : trace.stop !== undefined ? `: ${stopReason(trace.stop)}` : ""}`
  ]
}

/** Where a dry run stops for a person, and why. */
const stopReason = (stop: DryRunStop): string => {
  switch (stop.why) {
    case "waits-for-input":
      return `the run would stop at node '${stop.node}' (step ${stop.step}, not run yet), waiting for input: ${JSON.stringify(stop.prompt ?? "")}`
    case "rule":
      return `the run would stop after node '${stop.node}' (step ${stop.step}), waiting for input: rule '${stop.rule ?? ""}' asks ${JSON.stringify(stop.prompt ?? "")}`
    case "breakpoint-before":
      return `the run would pause at a breakpoint before node '${stop.node}' (step ${stop.step}, not run yet; --interrupt-before)`
    case "breakpoint-after":
      return `the run would pause at a breakpoint after node '${stop.node}' (step ${stop.step}, committed; --interrupt-after)`
  }
}

/** Why a dry run that came back to a step it already took stops there. */
const loopReason = (path: ReadonlyArray<ReadonlyArray<string>>): string => {
  const names = path.map((nodes) => `'${nodes.join(",")}'`)
  return names.length === 1
    ? path[0]!.length === 1
      ? `node ${names[0]} routes back to itself and no node runs in a dry run, so its exit condition cannot change`
      : `nodes ${names[0]} route back to themselves and no node runs in a dry run, so their exit conditions cannot change`
    : `${[...names, names[0]].join(" → ")} routes in a cycle and no node runs in a dry run, so its exit condition cannot change`
}

/** One line per fixture: the node, the rules that fired and the routing. */
export const simulatedLines = (results: ReadonlyArray<Simulated>): ReadonlyArray<string> =>
  results.map((r, i) => `fixture ${i + 1} node=${r.node} fired=[${r.fired.join(", ")}] → ${r.description}`)

/** A step's rule activity and working memory, for `inspect --step N`. */
export const stepLines = (checkpoint: Checkpoint, templates: TemplateSlots): ReadonlyArray<string> => {
  const rules = checkpoint.rules
  return [
    `step ${checkpoint.step}  node ${checkpoint.node}`,
    "rules fired:",
    ...(rules === undefined || rules.firings.length === 0 ? ["  (none)"] : rules.firings.map((f) => `  ${f.rule}  after ${f.node}  facts ${f.facts.map((id) => (id === null ? "*" : `f-${id}`)).join(",")}`)),
    ...(rules !== undefined && rules.effects.length > 0 ? ["effects:", ...rules.effects.map((e) => `  ${e.kind} ${e.fact}${e.count !== undefined ? ` (${counted(e.count, "fact")})` : ""}  by ${e.rule}`)] : []),
    "routing:",
    ...(rules === undefined ? ["  (none recorded)"] : Object.entries(rules.decisions).map(([node, d]) => `  ${node}: ${describeDecision(d)}`)),
    "facts:",
    ...(checkpoint.facts === undefined ? ["  (none recorded)"] : checkpoint.facts.facts.map((f) => `  f-${f[0]}  ${renderStored(f, templates)}`))
  ]
}
