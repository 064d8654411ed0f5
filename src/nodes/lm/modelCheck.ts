/**
 * Before a run starts: a graph with a live language-model node that names no `model`
 * (not `stub: true`) needs a model from where the run is driven, the run-wide default
 * model (`DefaultModel`: the CLI's `--lm-url`/`--lm-model`, a graph's `lm:` block) or an
 * app's `@effect/ai` `LanguageModel` layer. Without either, that node would fail with
 * `LanguageModelError[no-model]` only when it runs, after the steps before it ran and were
 * checkpointed; {@link checkModels} refuses the run before it is created instead. It reads
 * only the compiled nodes and the context, never the graph hash.
 */
import * as Effect from "effect/Effect"
import { LanguageModelError } from "../../errors.js"
import type { ChildGraph } from "../ChildGraph.js"
import { modelProvided } from "./provider.js"

/** A compiled node, as far as the check goes: whether it needs a model, and the child graph it runs. */
export interface ModelNeeds {
  readonly needsModel?: boolean | undefined
  readonly childGraph?: Pick<ChildGraph, "needsModel"> | undefined
}

/**
 * The ids of the nodes (a graph's compiled nodes) whose live calls need a model from
 * elsewhere, in graph order, those of the child graphs `subgraph` nodes run included (as
 * `<subgraph node>/<node>`, nested ones likewise): a child run uses the parent's model.
 */
export const nodesNeedingModel = (nodes: ReadonlyMap<string, ModelNeeds>): ReadonlyArray<string> =>
  [...nodes].flatMap(([id, node]) => [
    ...(node.needsModel === true ? [id] : []),
    ...(node.childGraph?.needsModel ?? []).map((child) => `${id}/${child}`)
  ])

/** The fix a library caller is told (the CLI says its flags instead). */
export const LIBRARY_FIX =
  "set config.model on the node (and config.api_base for a local server), provide a DefaultModel layer or an @effect/ai LanguageModel layer where the run is started, or set config.stub: true"

/**
 * `needing` (ids from {@link nodesNeedingModel}) without the nodes a run pauses before
 * (`pausedBefore`, its `interrupt_before`; `["*"]`: every node): such a node can be given a
 * model when the run is resumed. A child graph's node goes with its subgraph node.
 */
export const reachedBefore = (needing: ReadonlyArray<string>, pausedBefore: ReadonlyArray<string> | undefined): ReadonlyArray<string> =>
  pausedBefore === undefined || pausedBefore.length === 0 || needing.length === 0
    ? needing
    : pausedBefore[0] === "*"
    ? []
    : needing.filter((id) => !pausedBefore.includes(id.split("/")[0]!))

/** The refusal of a run whose nodes `needing` need a model nobody gives (see {@link checkNeeding}); `at`: before it started or was resumed. */
export const noModelError = (
  needing: ReadonlyArray<string>,
  fix: string = LIBRARY_FIX,
  what = "the run would fail when it reached it, so it was not started",
  at: "start" | "resume" = "start"
): LanguageModelError =>
  new LanguageModelError({
    ...(at === "resume" ? { refusedAt: "resume" as const } : {}),
    nodeId: needing[0]!,
    step: 0,
    reason: "no-model",
    attempts: 0,
    message: `${needing.length === 1 ? "the node calls" : `the nodes ${needing.map((id) => `'${id}'`).join(", ")} call`} a language model and name${needing.length === 1 ? "s" : ""} no model, and no default model or app LanguageModel is given: ` +
      what,
    fix
  })

/**
 * Fails with `LanguageModelError[no-model]` (attempts 0: no call was made) naming the first
 * of `needing` (node ids, as {@link nodesNeedingModel} lists them: computed once per loaded
 * graph) when neither an app's `LanguageModel` nor a default model is in the context;
 * succeeds otherwise, and at once (reading nothing) when `needing` is empty. `fix` says how
 * to give one where the run is started; `what` what was refused; `at` whether before a start or a resume.
 */
export const checkNeeding = (
  needing: ReadonlyArray<string>,
  fix: string = LIBRARY_FIX,
  what?: string,
  at: "start" | "resume" = "start"
): Effect.Effect<void, LanguageModelError> =>
  needing.length === 0
    ? Effect.void
    : Effect.flatMap(modelProvided(), (provided) => (provided ? Effect.void : Effect.fail(noModelError(needing, fix, what, at))))

/**
 * Fails with `LanguageModelError[no-model]` (attempts 0: no call was made) naming the first
 * node that needs a model when neither an app's `LanguageModel` nor a default model is in
 * the context; succeeds otherwise (and at once for a graph without such nodes). `fix` says
 * how to give one where the run is started.
 */
export const checkModels = (
  nodes: ReadonlyMap<string, ModelNeeds>,
  fix: string = LIBRARY_FIX
): Effect.Effect<void, LanguageModelError> => checkNeeding(nodesNeedingModel(nodes), fix)
