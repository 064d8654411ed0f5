/**
 * Run-time breakpoints (LangGraph's `interrupt_before` / `interrupt_after`): the node ids a
 * run pauses before or after, given when it starts, checked against the graph's nodes
 * before anything is written, and matched by the run loop.
 */
import * as Either from "effect/Either"
import type { Breakpoints } from "../checkpoint/models.js"
import { InputError } from "../errors.js"
import { listSome } from "../ir/limits.js"

/** Every node: `"*"`, alone or in a list (LangGraph's `"*"`). */
export const ALL_NODES = "*"

/** Breakpoints as a caller gives them: node ids, or `"*"` for every node. */
export type BreakpointNodes = ReadonlyArray<string> | typeof ALL_NODES

/** How the caller names the two options in an error (`interrupt_before`, `--interrupt-before`, `interruptBefore`). */
export interface BreakpointFields {
  readonly before: string
  readonly after: string
}

/** The names of the HTTP body and of the run record. */
export const WIRE_FIELDS: BreakpointFields = { before: "interrupt_before", after: "interrupt_after" }

/**
 * Check one option's node ids against the graph's (`"*"` is every node): its ids, in the
 * order given without repeats (`["*"]` when it names every node), or an `InputError` naming
 * the field, the unknown id and the known ones.
 */
const checkNodes = (
  given: unknown,
  field: string,
  known: ReadonlySet<string>
): Either.Either<ReadonlyArray<string>, InputError> => {
  if (given === undefined) return Either.right([])
  if (given === ALL_NODES) return Either.right([ALL_NODES])
  const fix = `name nodes of the graph, or "*" for every node`
  if (!Array.isArray(given)) {
    return Either.left(new InputError({ field, message: `${JSON.stringify(given) ?? String(given)} is not a list of node ids or "*"`, fix }))
  }
  const ids: Array<string> = []
  for (const [i, id] of (given as ReadonlyArray<unknown>).entries()) {
    if (typeof id !== "string") {
      return Either.left(new InputError({ field: `${field}[${i}]`, message: `${JSON.stringify(id) ?? String(id)} is not a node id`, fix }))
    }
    if (id === ALL_NODES) return Either.right([ALL_NODES])
    if (!known.has(id)) {
      return Either.left(new InputError({ field, message: `no node '${id}' in the graph (its nodes: ${listSome(known)})`, fix }))
    }
    if (!ids.includes(id)) ids.push(id)
  }
  return Either.right(ids)
}

/**
 * The breakpoints to keep on a new run (null for none), or an `InputError` for a value that
 * is not a list of the graph's node ids or `"*"`.
 */
export const resolveBreakpoints = (
  given: { readonly before?: unknown; readonly after?: unknown },
  nodeIds: Iterable<string>,
  fields: BreakpointFields = WIRE_FIELDS
): Either.Either<Breakpoints | null, InputError> => {
  const known = new Set(nodeIds)
  return Either.flatMap(checkNodes(given.before, fields.before, known), (before) =>
    Either.map(checkNodes(given.after, fields.after, known), (after) =>
      before.length === 0 && after.length === 0 ? null : { before, after }))
}

/** Whether a breakpoint list names `node` (`["*"]`: every node). */
export const names = (list: ReadonlyArray<string> | undefined, node: string): boolean =>
  list !== undefined && list.length > 0 && (list[0] === ALL_NODES || list.includes(node))

/** `a,b` or `*` (the CLI's form) as a breakpoint list (an empty id stays, to be refused as unknown). */
export const parseNodeList = (text: string): BreakpointNodes => {
  const ids = text.split(",").map((id) => id.trim())
  return ids.length === 1 && ids[0] === ALL_NODES ? ALL_NODES : ids
}
