/**
 * A custom trigger, written as docs/triggers.md describes: poll a directory and enqueue
 * one run per new file. Registered from `stargraph.yaml` (`plugins:`) or from a
 * package's `package.json` (`"stargraph": {"triggers": {"fswatch": "./fswatch.js#fswatch"}}`).
 *
 * Config: `path` (directory to watch, relative to stargraph.yaml), `graph` (graph id to run), `field` (state field
 * that receives the file path, default `message`), `interval_ms` (default 1000).
 */
import { readdirSync } from "node:fs"
import { resolve } from "node:path"
import { Duration, Effect, Fiber, Schedule } from "effect"
import { decodeTriggerEvent, idempotencyKeyOf, StargraphRuntimeError, type Trigger, type TriggerDeps } from "stargraph"

/** Build the trigger from its config (the factory form of a plugin export). */
export const fswatch = (config: { readonly [key: string]: unknown }): Trigger => {
  const watchPath = resolve(String(config["config_dir"] ?? "."), String(config["path"] ?? "."))
  const graphId = String(config["graph"] ?? "")
  const field = String(config["field"] ?? "message")
  const every = Duration.millis(Number(config["interval_ms"] ?? 1000))
  const triggerId = `fswatch:${graphId}`
  let deps: TriggerDeps | undefined
  let fiber: Fiber.RuntimeFiber<unknown, unknown> | undefined

  const scan = Effect.gen(function*() {
    const names = yield* Effect.try({ try: () => readdirSync(watchPath).sort(), catch: () => `cannot read ${watchPath}` }).pipe(
      Effect.orElseSucceed((): Array<string> => [])
    )
    for (const name of names) {
      const file = resolve(watchPath, name)
      // The idempotency key is stable per file, so a restart never runs a file twice.
      const event = yield* decodeTriggerEvent({
        trigger_id: triggerId,
        scheduled_fire: new Date().toISOString(),
        idempotency_key: idempotencyKeyOf(triggerId, file),
        payload: { [field]: file }
      })
      yield* deps!.scheduler.enqueue(graphId, event.payload, { idempotencyKey: event.idempotency_key, actor: triggerId })
    }
  }).pipe(Effect.catchAll((e) => Effect.logError(`${triggerId}: ${e.message}`)))

  return {
    name: "fswatch",
    init: (d) =>
      d.scheduler === undefined
        ? Effect.fail(new StargraphRuntimeError({ message: "fswatch.init requires deps.scheduler" }))
        : Effect.sync(() => {
          deps = d
        }),
    start: () =>
      Effect.map(Effect.forkDaemon(Effect.repeat(scan, Schedule.spaced(every))), (f) => {
        fiber = f
      }),
    stop: () => (fiber ? Fiber.interrupt(fiber) : Effect.void),
    routes: () => []
  }
}
