/**
 * Starts every trigger (manual, cron and webhook from the project config, plugins from
 * packages and the config, and the application's `ExtraTriggers`) through the isolating
 * dispatcher, and stops them when its scope closes. Configuration errors (a bad cron
 * expression, a missing secret, a plugin that cannot be found) fail loudly before
 * anything starts; lifecycle failures are per-trigger `DispatchResult`s.
 */
import { resolve } from "node:path"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import { Checkpointer } from "../checkpoint/Checkpointer.js"
import { TriggerError } from "../errors.js"
import { GraphRegistry, type GraphRegistryShape } from "../scheduler/GraphRegistry.js"
import { Scheduler } from "../scheduler/Scheduler.js"
import * as CronTrigger from "./CronTrigger.js"
import { collectTriggerRoutes, type DispatchResult, dispatchTriggerLifecycle } from "./Dispatcher.js"
import * as ManualTrigger from "./ManualTrigger.js"
import { discoverPackagePlugins, loadPlugin, type PluginRef } from "./plugins.js"
import { isPath, type ResolvedConfig } from "./ProjectConfig.js"
import { ExtraTriggers, type Trigger, type TriggerDeps, type TriggerRoute } from "./Trigger.js"
import * as WebhookTrigger from "./WebhookTrigger.js"

/** What the host started. */
export interface StartedTriggers {
  readonly manual: ManualTrigger.ManualTrigger
  readonly triggers: ReadonlyArray<Trigger>
  readonly init: ReadonlyArray<DispatchResult>
  readonly start: ReadonlyArray<DispatchResult>
  readonly routes: ReadonlyArray<TriggerRoute>
}

/** Options of {@link start}. */
export interface TriggerHostOptions {
  readonly config?: ResolvedConfig | undefined
  /** Folder whose package.json and node_modules are scanned for plugins (default: none). */
  readonly pluginRoot?: string | undefined
  /** Environment for webhook secrets (default `process.env`). */
  readonly env?: { readonly [name: string]: string | undefined }
}

/** Map a spec's `graph` (id, or path relative to the config) to a registered graph id. */
const graphIdOf = (graph: string, config: ResolvedConfig, registry: GraphRegistryShape): Effect.Effect<string, TriggerError> => {
  if (!isPath(graph)) return Effect.succeed(graph)
  const file = resolve(config.file ? resolve(config.file, "..") : process.cwd(), graph)
  const found = registry.list().find((g) => g.source === file)
  return found ? Effect.succeed(found.id) : Effect.fail(
    new TriggerError({ reason: "invalid-config", triggerId: graph, message: `graph file ${file} is not registered`, fix: "check the path (it is relative to stargraph.yaml)" })
  )
}

/** Build, init and start every trigger; stop them when the scope closes. */
export const start = (
  options: TriggerHostOptions = {}
): Effect.Effect<StartedTriggers, TriggerError, Scope.Scope | Scheduler | GraphRegistry | Checkpointer> =>
  Effect.gen(function*() {
    const scheduler = yield* Scheduler
    const registry = yield* GraphRegistry
    const checkpointer = yield* Checkpointer
    const manual = ManualTrigger.make()
    const triggers: Array<Trigger> = [manual]
    const config = options.config
    if (config) {
      const schedules = yield* Effect.forEach(config.config.schedules, (s) =>
        Effect.map(graphIdOf(s.graph, config, registry), (graph) => ({ ...s, graph })))
      const webhooks = yield* Effect.forEach(config.config.webhooks, (w) =>
        Effect.map(graphIdOf(w.graph, config, registry), (graph) => ({ ...w, graph })))
      if (schedules.length > 0) triggers.push(yield* CronTrigger.make(schedules))
      if (webhooks.length > 0) triggers.push(yield* WebhookTrigger.make(webhooks, options.env))
    }
    const refs: Array<PluginRef> = [
      ...(options.pluginRoot ? discoverPackagePlugins(options.pluginRoot) : []),
      ...(config?.plugins ?? [])
    ]
    const configOf = new Map<Trigger, { readonly [key: string]: unknown }>()
    for (const ref of refs) {
      const plugin = yield* loadPlugin(ref)
      configOf.set(plugin, ref.config)
      triggers.push(plugin)
    }
    triggers.push(...(yield* ExtraTriggers))
    const names = new Set<string>()
    for (const t of triggers) {
      if (names.has(t.name)) {
        return yield* new TriggerError({ reason: "duplicate-trigger", triggerId: t.name, message: `two triggers are named '${t.name}'`, fix: "rename one of them" })
      }
      names.add(t.name)
    }

    const depsFor = (t: Trigger): TriggerDeps => ({ scheduler, registry, checkpointer, config: configOf.get(t) ?? {} })
    const dispatch = (phase: "init" | "start" | "stop", list: ReadonlyArray<Trigger>) =>
      Effect.map(Effect.forEach(list, (t) => dispatchTriggerLifecycle(phase, [t], depsFor(t))), (r) => r.flat())

    const init = yield* dispatch("init", triggers)
    const ready = triggers.filter((_, i) => init[i]?.success === true)
    const started = yield* dispatch("start", ready)
    yield* Effect.addFinalizer(() => Effect.asVoid(dispatch("stop", ready)))
    const { routes } = yield* collectTriggerRoutes(ready)
    return { manual, triggers, init, start: started, routes }
  })
