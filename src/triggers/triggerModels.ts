/**
 * A schedule or webhook whose graph has a live language-model node that names no model,
 * where neither a default model (a server's `--lm-url`/`--lm-model`) nor an app's
 * `LanguageModel` is given, would start runs that all fail when they reach that node: it is
 * refused when it is registered (a server's start, a trigger's `init`), naming the node and
 * the fix, instead of at every tick or delivery. The graph's `needsModel` is read once per
 * loaded graph: a graph without such nodes costs nothing.
 */
import type * as Effect from "effect/Effect"
import type { LanguageModelError } from "../errors.js"
import { checkNeeding, LIBRARY_FIX } from "../nodes/lm/modelCheck.js"

/** Refuse registering `trigger` (as the user wrote it: `schedule 'nightly' (schedules[0])`) for a graph that needs a model nobody gives. */
export const checkTriggerModel = (
  trigger: string,
  graph: { readonly id: string; readonly needsModel: ReadonlyArray<string> },
  fix: string = LIBRARY_FIX
): Effect.Effect<void, LanguageModelError> =>
  checkNeeding(graph.needsModel, fix, `${trigger} starts graph '${graph.id}', whose every run would fail when it reached '${graph.needsModel[0]}', so the trigger was not registered`)
