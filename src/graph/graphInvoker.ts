/**
 * The live invoker behind `std.graph_invoke@1` (see src/nodes/GraphInvoker.ts): it loads
 * the graph file, starts it with the inputs on a throwaway in-memory checkpointer (the
 * child's record is dropped when the call returns: the call's result, in the parent's
 * cassette, is what is kept), and drives it to its end on the caller's fiber services. A
 * child that stops for input, or fails, is a `ToolError[failed]` naming the child's state
 * or error. Interrupting the call (the parent node is cancelled or times out) interrupts
 * the child run's fiber without waiting for it: the call ends then, and the child takes no
 * further step. `Graph.ts` builds it from its own `load` and provides it to every run's nodes.
 */
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import type { RunSummary } from "../checkpoint/models.js"
import * as MemoryCheckpointer from "../checkpoint/MemoryCheckpointer.js"
import { formatError, type StargraphError, ToolError } from "../errors.js"
import type { GraphInvokerShape } from "../nodes/GraphInvoker.js"
import type { Checkpointer } from "../checkpoint/Checkpointer.js"

/** What the invoker needs of a loaded graph (`Graph.Graph`, structurally: this module does not import Graph.ts). */
export interface Startable {
  readonly id: string
  readonly start: (options: { readonly inputs: Readonly<Record<string, unknown>> }) => Effect.Effect<
    { readonly runId: string; readonly start: () => Effect.Effect<RunSummary, StargraphError, never> },
    StargraphError,
    Checkpointer
  >
}

const failed = (message: string, fix: string) => new ToolError({ reason: "failed", message, fix })

const FIX_PART = " (fix: "

/**
 * `error` on one line without its own `(fix: …)`, and that fix: the call's error carries
 * one fix (the child's, folded into it), not two. The fix is found as the error's `fix`
 * field, else as a trailing `(fix: …)`.
 */
const splitFix = (error: StargraphError): { readonly text: string; readonly fix: string | undefined } => {
  const text = formatError(error)
  const field = "fix" in error && typeof error.fix === "string" ? error.fix.replace(/\s*\n\s*/g, " ") : undefined
  const part = field === undefined ? undefined : `${FIX_PART}${field})`
  if (part !== undefined && text.includes(part)) return { text: text.replace(part, ""), fix: field }
  const at = text.lastIndexOf(FIX_PART)
  return at >= 0 && text.endsWith(")") ? { text: text.slice(0, at), fix: text.slice(at + FIX_PART.length, -1) } : { text, fix: undefined }
}

/**
 * The call's error for a child graph's `error`, with one fix: the child's own (said to be
 * the child graph's) and `hint`, or `ours` and `hint` when the child's error has none.
 */
const childFailed = (what: string, error: StargraphError, ours: string, hint: string) => {
  const { fix, text } = splitFix(error)
  return failed(`${what}: ${text}`, `${fix === undefined ? ours : `in the child graph: ${fix}`}; ${hint}`)
}

/**
 * `effect` on a fiber of its own (with the caller's services), joined. Interrupting the
 * caller (the call's timeout, the parent run cancelled) interrupts that fiber without
 * waiting for it: the call ends at once, while the child run's node that is running gets
 * its abort signal and the child takes no further step. (A forked child of the caller's
 * fiber would be awaited, so the call's timeout would wait for the child's running node.)
 */
const detached = <A, E>(effect: Effect.Effect<A, E>): Effect.Effect<A, E> =>
  Effect.uninterruptibleMask((restore) =>
    Effect.flatMap(Effect.forkDaemon(effect), (fiber) => restore(Fiber.join(fiber)).pipe(Effect.onInterrupt(() => Fiber.interruptFork(fiber)))))

/** The invoker over `load` (Graph.load). */
export const makeInvoker = (load: (file: string) => Effect.Effect<Startable, StargraphError>): GraphInvokerShape => ({
  invoke: (file, inputs) =>
    Effect.gen(function*() {
      const graph = yield* load(file).pipe(
        Effect.mapError((e) => childFailed(`graph '${file}' does not load`, e, "fix the child graph", "stargraph compile <file> shows the problem"))
      )
      const summary = yield* detached(Effect.flatMap(graph.start({ inputs }), (run) => run.start()).pipe(Effect.provide(MemoryCheckpointer.layer))).pipe(
        Effect.mapError((e) => childFailed(`child graph '${graph.id}' failed`, e, "fix the child graph or its inputs", "run it alone with stargraph run to see its steps"))
      )
      if (summary.status === "awaiting-input") {
        const at = summary.waiting?.node
        return yield* failed(
          `child graph '${graph.id}' stopped for input${at !== undefined ? ` at node '${at}'` : ""}: a tool call cannot answer an interrupt`,
          "run a graph that asks for input with stargraph run/serve (or as a subgraph node, whose interrupt reaches the parent run)"
        )
      }
      return { status: summary.status, final_state: summary.final_state, run_id: summary.run_id, graph_hash: summary.graph_hash }
    })
})
