/**
 * Per-step progress of `run`, `resume` and `replay`, so a long run is never silent. On a TTY a live
 * line shows the step in flight (spinner, node, elapsed time) and becomes
 * `✔ step 2  count  3.1 ms  rounds=1` when the step's checkpoint is committed; on a
 * pipe each committed step is one plain line (`step 2  count  3.1 ms  rounds=1`, no
 * escape codes). Lines come from the run's events; `finish` prints, from the persisted
 * checkpoints, any step whose event was not seen (e.g. a run that finished before its
 * handle was observed), so every step is printed exactly once.
 */
import * as Effect from "effect/Effect"
import type { Checkpoint } from "../checkpoint/models.js"
import type { RunEvent } from "../runtime/events.js"
import { checkpointRulesNote, formatDelta, rulesNote } from "./render.js"
import { colorAllowed, columns, paint, quietOnClosedPipe, stdoutIsTty, writeOut } from "./terminal.js"

const SPINNER = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"]
const CLEAR_LINE = "\r\u001b[2K"

/** What a progress printer needs to know about the graph (for alignment). */
export interface ProgressOptions {
  /** Node ids of the graph (the node column is as wide as the longest). */
  readonly nodeIds: Iterable<string>
  /** Last step already persisted before this process drives the run (resume); 0 for a new run. */
  readonly fromStep?: number
  /** Print nothing at all (`--quiet`). */
  readonly silent: boolean
  /** Print each step's whole delta, one field a line, under its step line (`--verbose`). */
  readonly verbose?: boolean | undefined
  /** Override TTY detection (tests). */
  readonly tty?: boolean
}

/** A step printer. */
export interface Progress {
  /** Handle one run event. */
  readonly onEvent: (event: RunEvent) => Effect.Effect<void>
  /** Clear the live line and print committed steps not printed yet. */
  readonly finish: (checkpoints: ReadonlyArray<Checkpoint>) => Effect.Effect<void>
  /** Redraw the live line (spinner and elapsed time); a no-op off a TTY. */
  readonly tick: Effect.Effect<void>
  /** Whether the live line is drawn (a TTY and not silent). */
  readonly live: boolean
  /** Print a notice on stderr without garbling the live line. */
  readonly note: (text: string) => Effect.Effect<void>
}

const ms = (duration: number): string => duration >= 1000 ? `${(duration / 1000).toFixed(1)} s` : `${duration.toFixed(1)} ms`

/** Build a printer for one run (no output until events arrive). */
export const make = (options: ProgressOptions): Progress => {
  quietOnClosedPipe()
  const tty = options.tty ?? stdoutIsTty()
  const color = tty && colorAllowed()
  const nodeWidth = Math.max(4, ...[...options.nodeIds].map((id) => id.length))
  let lastPrinted = options.fromStep ?? 0
  let inFlight: { readonly step: number; readonly nodes: string; readonly since: number } | undefined
  let frame = 0

  const fit = (line: string): string => {
    if (!tty) return line
    const width = columns()
    return line.length > width ? line.slice(0, Math.max(1, width - 1)) + "…" : line
  }

  const stepLine = (step: number, nodes: string, durationMs: number, delta: { readonly [k: string]: unknown }, note: string): string => {
    const text = `step ${step}  ${nodes.padEnd(nodeWidth)}  ${ms(durationMs).padStart(8)}  `
    const room = tty ? Math.max(20, columns() - text.length - 3 - (note ? note.length + 2 : 0)) : 100
    const line = fit(`${tty ? "✔ " : ""}${text}${formatDelta(delta, room)}${note ? `  ${note}` : ""}`)
    return tty ? line.replace(/^✔/, paint(color, "32", "✔")) : line
  }

  const drawLive = () => {
    if (!tty || inFlight === undefined) return
    const elapsed = performance.now() - inFlight.since
    const glyph = SPINNER[frame++ % SPINNER.length]!
    writeOut(CLEAR_LINE + paint(color, "36", glyph) + fit(` step ${inFlight.step}  ${inFlight.nodes.padEnd(nodeWidth)}  ${ms(elapsed).padStart(8)}  running`))
  }

  const clearLive = () => {
    if (tty && inFlight !== undefined) writeOut(CLEAR_LINE)
    inFlight = undefined
  }

  const printStep = (step: number, nodes: string, durationMs: number, delta: { readonly [k: string]: unknown }, note: string) => {
    if (step <= lastPrinted) return
    clearLive()
    writeOut(stepLine(step, nodes, durationMs, delta, note) + "\n")
    if (options.verbose === true) for (const [field, value] of Object.entries(delta)) writeOut(`    ${field} = ${JSON.stringify(value)}\n`)
    lastPrinted = step
  }

  return {
    onEvent: (event) =>
      Effect.sync(() => {
        if (options.silent) return
        if (event.type === "step.started") {
          inFlight = { step: event.step, nodes: event.nodes.join(","), since: performance.now() }
          drawLive()
        } else if (event.type === "step.completed") {
          printStep(event.step, event.nodes.join(","), event.duration_ms, event.delta, rulesNote(event.rules))
        } else if (event.type === "run.started") {
          // A resumed run continues after its last step: earlier steps are not re-printed.
          lastPrinted = Math.max(lastPrinted, event.from_step)
        }
      }),
    finish: (checkpoints) =>
      Effect.sync(() => {
        if (options.silent) return
        clearLive()
        for (const c of checkpoints) if (c.step > 0) printStep(c.step, c.node, c.duration_ms, c.delta, checkpointRulesNote(c))
      }),
    tick: Effect.sync(drawLive),
    live: tty && !options.silent,
    note: (text) =>
      Effect.sync(() => {
        if (tty && inFlight !== undefined) writeOut(CLEAR_LINE)
        process.stderr.write(text + "\n")
        drawLive()
      })
  }
}
