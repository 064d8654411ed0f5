/**
 * The compiled, immutable description of a graph that the run loop executes: validated
 * IR, resolved topology, compiled state schema, node executors, the rule program that
 * routes it, and pinned hashes.
 */
import type { RuleProgram } from "../fathom/program.js"
import type { RouterFunction } from "../nodes/Executor.js"
import type { CompiledNode } from "../nodes/NodeKind.js"
import type { GraphModel } from "../ir/authoring.js"
import type { IRDocument } from "../ir/schema.js"
import type { CompiledStateSchema } from "../ir/stateSchema.js"
import type { Topology } from "../ir/topology.js"

/** Everything the loop needs to run a graph. */
export interface GraphDefinition {
  readonly id: string
  readonly ir: IRDocument
  /** `sha256:<hex>` of the canonical IR + compiled state schema + node module bytes. */
  readonly graphHash: string
  /** `sha256:<hex>` of the Node.js and Stargraph versions. */
  readonly runtimeHash: string
  readonly state: CompiledStateSchema
  readonly topology: Topology
  /** Every node, compiled by its kind. */
  readonly nodes: ReadonlyMap<string, CompiledNode>
  /** Router functions by edge index. */
  readonly routers: ReadonlyMap<number, RouterFunction>
  /** The rule program that routes the graph (its rules, its edges compiled to rules, its packs). */
  readonly rules: RuleProgram
  /** The YAML file the graph was loaded from, if any. */
  readonly source: string | undefined
  /**
   * The model server an authoring-format file's `lm:` block names, which `stargraph run`
   * and `resume` use as the run's default model; not part of the graph hash.
   */
  readonly lm?: GraphModel | undefined
}
