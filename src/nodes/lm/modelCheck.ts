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
 * Fails with `LanguageModelError[no-model]` (attempts 0: no call was made) naming the first
 * node that needs a model when neither an app's `LanguageModel` nor a default model is in
 * the context; succeeds otherwise (and at once for a graph without such nodes). `fix` says
 * how to give one where the run is started.
 */
export const checkModels = (
  nodes: ReadonlyMap<string, ModelNeeds>,
  fix: string = LIBRARY_FIX
): Effect.Effect<void, LanguageModelError> => {
  const needing = nodesNeedingModel(nodes)
  if (needing.length === 0) return Effect.void
  return Effect.flatMap(modelProvided(), (provided) =>
    provided
      ? Effect.void
      : Effect.fail(
        new LanguageModelError({
          nodeId: needing[0]!,
          step: 0,
          reason: "no-model",
          attempts: 0,
          message: `${needing.length === 1 ? "the node calls" : `the nodes ${needing.map((id) => `'${id}'`).join(", ")} call`} a language model and name${needing.length === 1 ? "s" : ""} no model, and no default model or app LanguageModel is given: ` +
            "the run would fail when it reached it, so it was not started",
          fix
        })
      ))
}
