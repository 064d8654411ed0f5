/**
 * The contract between the `subgraph` node kind and the graph layer that runs child
 * graphs: the kind maps state in and out, the graph layer loads the child graph and runs
 * it as its own run linked to the parent step.
 */
import type * as Effect from "effect/Effect"
import type * as Either from "effect/Either"
import type { Checkpointer } from "../checkpoint/Checkpointer.js"
import type { CheckpointError, StateValidationError } from "../errors.js"
import type { State, FieldInfo } from "../ir/stateSchema.js"
import type { ChildCommits, InterruptRequest, NodeFailure, UnfinishedChild } from "./Executor.js"

/** One parent step's request to run (or continue) its child run. */
export interface ChildRunRequest {
  readonly parentRunId: string
  readonly parentStep: number
  readonly nodeId: string
  /** The child's initial state (already mapped from the parent's). */
  readonly inputs: State
  /** The answer to the child's pending interrupt, when the parent is resumed with one. */
  readonly answer?: { readonly value: unknown } | undefined
  /** In a replay: the recorded child run a new child replays (see `NodeInput.unfinishedChild`). */
  readonly replayOf?: UnfinishedChild | undefined
  /** Whether the parent run is being cancelled (`NodeInput.cancelling`): an interrupted child is then cancelled, else paused. */
  readonly cancelling?: (() => boolean) | undefined
  /** Where the child leaves its last commit when it ends, for the parent step's commit (`NodeInput.childCommits`). */
  readonly commits?: ChildCommits | undefined
  /** The item a `map` node's child run is for (its position in the list): one child run per item, each with its own key. */
  readonly index?: number | undefined
  /** With `index`: the attempt at the item under the `map` node's `retry` (from 1; each attempt a child run with its own key). */
  readonly attempt?: number | undefined
}

/** The `subgraph` nodes among `nodes` (a graph's compiled nodes) and the child graphs they run, by node id. */
export const subgraphsOf = (nodes: ReadonlyMap<string, { readonly childGraph?: ChildGraph | undefined }>): ReadonlyMap<string, ChildGraph> =>
  new Map([...nodes].flatMap(([id, node]) => (node.childGraph !== undefined ? [[id, node.childGraph] as const] : [])))

/**
 * The idempotency key of the child run a parent step starts (it finds that child again):
 * a `map` node's child of item `index` has `#<index>` after the `subgraph` node's key, and
 * `@<attempt>` after that from its second attempt on (a retry of a failed item).
 */
export const childRunKey = (request: Pick<ChildRunRequest, "parentRunId" | "parentStep" | "nodeId" | "index" | "attempt">): string =>
  `subgraph:${request.parentRunId}:${request.parentStep}:${request.nodeId}${request.index === undefined ? "" : `#${request.index}`}` +
  `${request.index === undefined || request.attempt === undefined || request.attempt <= 1 ? "" : `@${request.attempt}`}`

/** A map child's key's end: `#<index>`, then `@<attempt>` from the second attempt. */
const ITEM_KEY = /#(\d+)(?:@(\d+))?$/

/** The item a `map` node's child run is for, read from its idempotency key (`#<index>` at its end, before any `@<attempt>`); undefined for a `subgraph` node's child, or no child run. */
export const itemOfKey = (key: string | null | undefined): number | undefined => {
  const match = key === null || key === undefined || !key.startsWith("subgraph:") ? null : ITEM_KEY.exec(key)
  return match === null ? undefined : Number(match[1])
}

/**
 * What started a child run, read from its idempotency key (`childRunKey`) given its parent
 * run and step: `map node 'x', item i` for a `map` node's item, `subgraph node 'x'` for a
 * `subgraph` node's child; undefined when the key is not such a key.
 */
export const startedBy = (key: string | null, parentRunId: string, parentStep: number | null): string | undefined => {
  const prefix = `subgraph:${parentRunId}:${parentStep}:`
  if (key === null || parentStep === null || !key.startsWith(prefix)) return undefined
  const rest = key.slice(prefix.length)
  const item = ITEM_KEY.exec(rest)
  return item === null ? `subgraph node '${rest}'` : `map node '${rest.slice(0, item.index)}', item ${item[1]}${item[2] === undefined ? "" : `, attempt ${item[2]}`}`
}

/** How a child run ended for now. */
export type ChildOutcome =
  | { readonly _tag: "Done"; readonly runId: string; readonly state: State }
  | ({ readonly _tag: "Waiting"; readonly runId: string } & InterruptRequest)

/** A loaded child graph. */
export interface ChildGraph {
  readonly id: string
  /** The child's graph hash, folded into the parent's. */
  readonly graphHash: string
  /** The child's declared state fields. */
  readonly fields: ReadonlyMap<string, FieldInfo>
  /** Run the child for a parent step: start it, or continue the one that step started. */
  readonly run: (request: ChildRunRequest) => Effect.Effect<ChildOutcome, NodeFailure, Checkpointer>
  /** The child graph's own `subgraph` nodes and the graphs they run (nested children), by node id. */
  readonly subgraphs: ReadonlyMap<string, ChildGraph>
  /**
   * The child's language-model nodes whose live calls need a model from where the run is
   * driven (`CompiledNode.needsModel`), nested children's as `<subgraph node>/<node>`, in
   * graph order: a child run uses its parent's default model or app `LanguageModel`, so the
   * check before a run starts (`nodes/lm/modelCheck.ts`) looks at them too.
   */
  readonly needsModel: ReadonlyArray<string>
  /**
   * The ids of {@link needsModel} that child run `runId` (stopped, waiting) can still reach
   * from where it stopped (its latest checkpoint's frontier, its wait's timeout; a node of a
   * nested child it waits on is counted whole); all of them when the run is not there.
   */
  readonly stillNeeding: (runId: string) => Effect.Effect<ReadonlyArray<string>, CheckpointError, Checkpointer>
  /** Refuse inputs the child's state schema would refuse, before any child run is made (what starting a child checks). */
  readonly checkInputs: (inputs: State) => Either.Either<void, StateValidationError>
  /** Refuse, before anything changes, an answer the child run `runId` could not take (see `Graph.checkResponse`). */
  readonly checkResponse: (runId: string, value: unknown) => Effect.Effect<void, StateValidationError | CheckpointError, Checkpointer>
}
