/**
 * Structural validation of an IR document and the resolved edge topology the run loop
 * walks: duplicate ids, dangling edges, unknown state fields, finish nodes, and cycles
 * with no exit are all rejected here, before anything runs.
 */
import * as Either from "effect/Either"
import type { IRValidationError } from "../errors.js"
import { irError, type IRSource } from "./parse.js"
import { type Condition, END, type IRDocument, type NodeSpec } from "./schema.js"
import type { FieldInfo } from "./stateSchema.js"
import { listSome } from "./limits.js"

/** An outgoing edge, resolved. */
export type OutEdge =
  | { readonly _tag: "static"; readonly to: ReadonlyArray<string> }
  | { readonly _tag: "join"; readonly join: number }
  | {
    readonly _tag: "cases"
    readonly cases: ReadonlyArray<{ readonly when: Condition; readonly to: string }>
    readonly default: string | undefined
  }
  | { readonly _tag: "router"; readonly edgeIndex: number; readonly targets: ReadonlyArray<string> }

/** A join (fan-in) edge: `targets` run once every source has completed. */
export interface Join {
  readonly index: number
  readonly sources: ReadonlyArray<string>
  readonly targets: ReadonlyArray<string>
}

/** The validated, resolved graph structure. */
export interface Topology {
  readonly entry: string
  readonly nodes: ReadonlyMap<string, NodeSpec>
  /** Declaration index of each node: the deterministic merge and scheduling order. */
  readonly order: ReadonlyMap<string, number>
  readonly outgoing: ReadonlyMap<string, ReadonlyArray<OutEdge>>
  readonly joins: ReadonlyArray<Join>
  readonly maxSteps: number
}

/** Default `max_steps` guard. */
export const DEFAULT_MAX_STEPS = 10_000

/** Validate the structure of `ir` against the declared state `fields`. */
export const buildTopology = (
  ir: IRDocument,
  fields: ReadonlyMap<string, FieldInfo>,
  source: IRSource
): Either.Either<Topology, IRValidationError> => {
  const fail = (path: ReadonlyArray<PropertyKey>, message: string, fix: string) =>
    Either.left(irError(source, path, message, fix))

  const nodes = new Map<string, NodeSpec>()
  const order = new Map<string, number>()
  for (const [i, node] of ir.nodes.entries()) {
    if (node.id === END) return fail(["nodes", i, "id"], `'${END}' is reserved for ending a branch`, "rename the node")
    if (nodes.has(node.id)) {
      return fail(
        ["nodes", i, "id"],
        `duplicate node id '${node.id}' (first declared at nodes[${order.get(node.id)}])`,
        "give every node a unique id"
      )
    }
    nodes.set(node.id, node)
    order.set(node.id, i)
  }
  const known = listSome(nodes.keys())
  const checkRef = (id: string, path: ReadonlyArray<PropertyKey>, allowEnd: boolean) =>
    nodes.has(id) || (allowEnd && id === END)
      ? undefined
      : irError(source, path, `edge refers to unknown node '${id}'`, `use one of: ${known}${allowEnd ? `, ${END}` : ""}`)

  const outgoing = new Map<string, Array<OutEdge>>()
  const push = (from: string, edge: OutEdge) => outgoing.set(from, [...(outgoing.get(from) ?? []), edge])
  const joins: Array<Join> = []
  const conditionalFrom = new Map<string, number>()
  for (const [i, edge] of ir.edges.entries()) {
    const base = ["edges", i]
    if ("cases" in edge || "router" in edge) {
      const bad = checkRef(edge.from, [...base, "from"], false)
      if (bad) return Either.left(bad)
      const previous = conditionalFrom.get(edge.from)
      if (previous !== undefined) {
        return fail(
          base,
          `node '${edge.from}' already has a conditional edge (edges[${previous}])`,
          "merge the cases into one conditional edge per node"
        )
      }
      conditionalFrom.set(edge.from, i)
      if ("cases" in edge) {
        for (const [j, c] of edge.cases.entries()) {
          const bad = checkRef(c.to, [...base, "cases", j, "to"], true) ??
            checkCondition(c.when, fields, source, [...base, "cases", j, "when", "field"])
          if (bad) return Either.left(bad)
        }
        if (edge.default !== undefined) {
          const bad = checkRef(edge.default, [...base, "default"], true)
          if (bad) return Either.left(bad)
        }
        push(edge.from, { _tag: "cases", cases: edge.cases, default: edge.default })
      } else {
        for (const [j, t] of edge.targets.entries()) {
          const bad = checkRef(t, [...base, "targets", j], true)
          if (bad) return Either.left(bad)
        }
        push(edge.from, { _tag: "router", edgeIndex: i, targets: edge.targets })
      }
      continue
    }
    const froms = typeof edge.from === "string" ? [edge.from] : edge.from
    const tos = typeof edge.to === "string" ? [edge.to] : edge.to
    for (const [j, f] of froms.entries()) {
      const bad = checkRef(f, typeof edge.from === "string" ? [...base, "from"] : [...base, "from", j], false)
      if (bad) return Either.left(bad)
    }
    for (const [j, t] of tos.entries()) {
      const bad = checkRef(t, typeof edge.to === "string" ? [...base, "to"] : [...base, "to", j], true)
      if (bad) return Either.left(bad)
    }
    if (froms.length === 1) {
      push(froms[0]!, { _tag: "static", to: tos })
    } else {
      if (new Set(froms).size !== froms.length) {
        return fail([...base, "from"], "a join lists the same source twice", "list each source node once")
      }
      const join = joins.length
      joins.push({ index: join, sources: froms, targets: tos })
      for (const f of froms) push(f, { _tag: "join", join })
    }
  }

  const entry = ir.entry ?? ir.nodes[0].id
  if (!nodes.has(entry)) {
    return fail(["entry"], `entry node '${entry}' does not exist`, `use one of: ${known}`)
  }
  for (const [i, f] of (ir.finish ?? []).entries()) {
    if (!nodes.has(f)) return fail(["finish", i], `finish node '${f}' does not exist`, `use one of: ${known}`)
    if ((outgoing.get(f) ?? []).length > 0) {
      return fail(["finish", i], `finish node '${f}' has outgoing edges`, "remove its outgoing edges or remove it from finish")
    }
  }

  const topology: Topology = {
    entry,
    nodes,
    order,
    outgoing,
    joins,
    maxSteps: ir.max_steps ?? DEFAULT_MAX_STEPS
  }
  const trapped = findTrappedCycle(topology)
  if (trapped) {
    return fail(
      ["edges"],
      `cycle with no exit: ${trapped.join(" → ")} can never reach the end of the graph`,
      "add a conditional edge (cases with a default or a case to __end__) that leaves the cycle"
    )
  }
  return Either.right(topology)
}

/** Successors a node may trigger through its edges, for static analysis (END omitted; `canEnd`: a branch may end there). */
export const possibleSuccessors = (topology: Topology, id: string): { readonly next: ReadonlyArray<string>; readonly canEnd: boolean } => {
  const edges = topology.outgoing.get(id) ?? []
  if (edges.length === 0) return { next: [], canEnd: true }
  const next: Array<string> = []
  let canEnd = false
  const reach = (targets: ReadonlyArray<string>) => {
    for (const t of targets) {
      if (t === END) canEnd = true
      else next.push(t)
    }
  }
  for (const e of edges) {
    switch (e._tag) {
      case "static":
        reach(e.to)
        break
      case "join":
        next.push(...topology.joins[e.join]!.targets.filter((t) => t !== END))
        if (topology.joins[e.join]!.targets.includes(END)) canEnd = true
        break
      case "cases":
        reach(e.cases.map((c) => c.to))
        if (e.default === undefined || e.default === END) canEnd = true
        else next.push(e.default)
        break
      case "router":
        reach(e.targets)
        break
    }
  }
  return { next, canEnd }
}

/**
 * Nodes reachable from the entry from which the run can never end, as a cycle path.
 * Linear in nodes and edges: a forward walk from the entry, then a backward walk from
 * every node that can end.
 */
const findTrappedCycle = (topology: Topology): ReadonlyArray<string> | undefined => {
  const successors = new Map<string, { readonly next: ReadonlyArray<string>; readonly canEnd: boolean }>()
  const reachable: Array<string> = [topology.entry]
  const seen = new Set<string>(reachable)
  for (let i = 0; i < reachable.length; i++) {
    const id = reachable[i]!
    const out = possibleSuccessors(topology, id)
    successors.set(id, out)
    for (const n of out.next) {
      if (!seen.has(n)) {
        seen.add(n)
        reachable.push(n)
      }
    }
  }
  const predecessors = new Map<string, Array<string>>()
  for (const [id, out] of successors) {
    for (const n of out.next) {
      const list = predecessors.get(n)
      if (list) list.push(id)
      else predecessors.set(n, [id])
    }
  }
  const terminates = new Set<string>()
  const queue = reachable.filter((id) => successors.get(id)!.canEnd)
  for (const id of queue) terminates.add(id)
  for (let i = 0; i < queue.length; i++) {
    for (const p of predecessors.get(queue[i]!) ?? []) {
      if (!terminates.has(p)) {
        terminates.add(p)
        queue.push(p)
      }
    }
  }
  const stuck = reachable.filter((id) => !terminates.has(id))
  if (stuck.length === 0) return undefined
  // Walk from the first stuck node until a node repeats: that is the cycle to show.
  const path: Array<string> = []
  const onPath = new Set<string>()
  let current: string | undefined = stuck.sort((a, b) => topology.order.get(a)! - topology.order.get(b)!)[0]
  while (current !== undefined && !onPath.has(current)) {
    path.push(current)
    onPath.add(current)
    current = successors.get(current)!.next.find((n) => !terminates.has(n))
  }
  const cycle = current !== undefined ? [...path.slice(path.indexOf(current)), current] : path
  return cycle.length > 12 ? [...cycle.slice(0, 6), `… (${cycle.length - 12} more)`, ...cycle.slice(-6)] : cycle
}

const checkCondition = (
  condition: Condition,
  fields: ReadonlyMap<string, FieldInfo>,
  source: IRSource,
  path: ReadonlyArray<PropertyKey>
): IRValidationError | undefined => {
  const head = condition.field.split(".")[0] ?? ""
  if (!fields.has(head)) {
    return irError(source, path, `condition reads undeclared state field '${head}'`, `use one of: ${listSome(fields.keys())}`)
  }
  const needsValue = !["exists", "truthy", "falsy"].includes(condition.op)
  if (needsValue && condition.value === undefined) {
    return irError(source, path.slice(0, -1), `operator '${condition.op}' needs a value`, "add `value: ...` to the condition")
  }
  if (condition.op === "in" && !Array.isArray(condition.value)) {
    return irError(source, [...path.slice(0, -1), "value"], "operator 'in' needs a list value", "write value: [a, b, c]")
  }
  return needsValue && condition.field === head ? neverMatches(condition, fields.get(head)!, source, [...path.slice(0, -1), "value"]) : undefined
}

/** The JSON type a comparison value has, as a state field type names it. */
const jsonTypeOf = (value: unknown): string =>
  Array.isArray(value) ? "array" : value === null ? "null" : typeof value === "number" ? (Number.isInteger(value) ? "integer" : "number") : typeof value

/**
 * Why a condition on a declared field can never hold (undefined: it can): a value of
 * another type than the field's (comparisons across types are false, never coerced), an
 * order on a field that has none, or a value outside the field's `enum`. Refused at
 * validation instead of silently taking the default at run time.
 */
const neverMatches = (condition: Condition, field: FieldInfo, source: IRSource, path: ReadonlyArray<PropertyKey>): IRValidationError | undefined => {
  // An exported Schema's field says its JSON type (`valueType`: a number may be whole or not).
  const type = field.type ?? field.valueType
  if (type === undefined || type === "any") return undefined
  const ordered = ["gt", "gte", "lt", "lte"].includes(condition.op)
  if (ordered && type !== "integer" && type !== "number" && type !== "string") {
    return irError(source, path.slice(0, -1), `operator '${condition.op}' orders values, and ${type} field '${field.name}' has no order`, "use eq, ne, in, exists, truthy or falsy")
  }
  const values = condition.op === "in" && Array.isArray(condition.value) ? condition.value : [condition.value]
  const verdict = condition.op === "ne" ? "it always holds" : "it can never match"
  for (const [i, value] of values.entries()) {
    const at = condition.op === "in" ? [...path, i] : path
    const given = jsonTypeOf(value)
    // null matches a field left empty; an `eq`/`ne`/`in` may test for it.
    if (given === "null" && !ordered) continue
    const fits = type === "number" ? given === "integer" || given === "number" : type === "integer" ? given === "integer" || (ordered && given === "number") : given === type
    if (!fits) {
      return irError(source, at, `the condition compares ${type} field '${field.name}' with ${JSON.stringify(value)} (${given === "integer" ? "a number" : `a ${given}`}): ${verdict}`, `write a ${type === "integer" ? "whole number" : type} value${typeof value === "string" && type !== "string" && Number.isFinite(Number(value)) ? `, e.g. value: ${Number(value)}` : ""}`)
    }
    if (field.enum !== undefined && !ordered && !field.enum.includes(value as string | number | boolean)) {
      return irError(source, at, `${JSON.stringify(value)} is not one of field '${field.name}''s values (${field.enum.map((v) => JSON.stringify(v)).join(", ")}): ${verdict}`, `use one of ${field.enum.map((v) => JSON.stringify(v)).join(", ")}, or add it to the field's enum`)
    }
  }
  return undefined
}
