/**
 * Build a graph and run it to its end in one call, for the node-kind tests: the graph,
 * its run id, the summary or the error it failed with, and the checkpoints it wrote.
 */
import { join } from "node:path"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Layer from "effect/Layer"
import { Checkpointer } from "../../src/checkpoint/Checkpointer.js"
import type { RunSummary } from "../../src/checkpoint/models.js"
import * as SqliteCheckpointer from "../../src/checkpoint/SqliteCheckpointer.js"
import type { StargraphError } from "../../src/errors.js"
import * as Graph from "../../src/graph/Graph.js"
import { tempDir } from "./cli.js"

/** A SQLite checkpointer on a fresh file in a temp folder. */
export const dbLayer = () => SqliteCheckpointer.layer({ filename: join(tempDir(), "runs.sqlite") })

/** Options of {@link runGraph}. */
export interface RunOptions<ROut, E> {
  /** The checkpointer (default: a fresh {@link dbLayer}); pass one to replay or fork the run later. */
  readonly layer?: Layer.Layer<Checkpointer, unknown>
  /** The graph file `ir` is built as (its relative paths resolve from its folder). */
  readonly file?: string
  /** More services where the graph is built and run (grants, registries, a default model). */
  readonly provide?: Layer.Layer<ROut, E>
}

/** Build `ir`, start it with `inputs` and run it to its end: summary or error, and the checkpoints. */
export const runGraph = <ROut = never, E = never>(ir: unknown, inputs: Record<string, unknown>, options: RunOptions<ROut, E> = {}) => {
  const layer = options.layer ?? dbLayer()
  return Effect.runPromise(Effect.gen(function*() {
    const graph = yield* Graph.make(ir, options.file === undefined ? undefined : { file: options.file })
    const handle = yield* graph.start({ inputs })
    const result = yield* Effect.either(handle.start())
    const checkpoints = yield* Effect.flatMap(Checkpointer, (c) => c.listCheckpoints(handle.runId))
    return {
      graph,
      runId: handle.runId,
      summary: Either.getOrUndefined(result) as RunSummary | undefined,
      error: Either.isLeft(result) ? (result.left as StargraphError) : undefined,
      checkpoints
    }
  }).pipe(Effect.provide(options.provide === undefined ? layer : Layer.merge(layer, options.provide))))
}
