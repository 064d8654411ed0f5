/**
 * Starts every trigger (manual, cron and webhook from the project config, plugins from
 * packages and the config, and the application's `ExtraTriggers`) through the isolating
 * dispatcher, and stops them when its scope closes. Configuration errors (a bad cron
 * expression, a missing secret, a plugin declaration pointing at no module or export)
 * fail loudly before anything starts. Anything a plugin's own code does wrong (its
 * module throwing at top level, its constructor or factory, any hook) is a per-plugin
 * `DispatchResult{success: false}`: logged, reported, and the others carry on.
 */
import { dirname, resolve } from "node:path"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import type * as Scope from "effect/Scope"
import { Checkpointer } from "../checkpoint/Checkpointer.js"
import { type LanguageModelError, TriggerError } from "../errors.js"
import { closestName } from "../ir/didYouMean.js"
import { listSome } from "../ir/limits.js"
import type { Graph } from "../graph/Graph.js"
import { GraphRegistry, type GraphRegistryShape } from "../scheduler/GraphRegistry.js"
import { Scheduler, type SchedulerShape } from "../scheduler/Scheduler.js"
import { Metrics, type MetricsShape } from "../telemetry/Metrics.js"
import * as CronTrigger from "./CronTrigger.js"
import { collectTriggerRoutes, type DispatchResult, dispatchTriggerLifecycle, reportFailure } from "./Dispatcher.js"
import * as ManualTrigger from "./ManualTrigger.js"
import { discoverPackagePlugins, loadPlugin, type PluginRef } from "./plugins.js"
import { isPath, type ResolvedConfig } from "./ProjectConfig.js"
import { ExtraTriggers, type Trigger, type TriggerDeps, type TriggerRoute } from "./Trigger.js"
import * as WebhookTrigger from "./WebhookTrigger.js"
import { checkTriggerModel } from "./triggerModels.js"

/** What the host started. */
export interface StartedTriggers {
  readonly manual: ManualTrigger.ManualTrigger
  /** Every trigger that loaded (whether or not its init and start succeeded). */
  readonly triggers: ReadonlyArray<Trigger>
  /** One result per plugin: failed when its module, constructor or factory threw. */
  readonly load: ReadonlyArray<DispatchResult>
  readonly init: ReadonlyArray<DispatchResult>
  readonly start: ReadonlyArray<DispatchResult>
  /** One result per started trigger's `routes()`. */
  readonly routeResults: ReadonlyArray<DispatchResult>
  readonly routes: ReadonlyArray<TriggerRoute>
}

/** Every result that failed, in order: load, init, start, routes. */
export const failures = (started: StartedTriggers): ReadonlyArray<DispatchResult> =>
  [...started.load, ...started.init, ...started.start, ...started.routeResults].filter((r) => !r.success)

/** Options of {@link start}. */
export interface TriggerHostOptions {
  readonly config?: ResolvedConfig | undefined
  /** Folder whose package.json and node_modules are scanned for plugins (default: none). */
  readonly pluginRoot?: string | undefined
  /** Environment for webhook secrets (default `process.env`). */
  readonly env?: { readonly [name: string]: string | undefined }
  /** How long each trigger's init, start, routes and stop may take (default 10 s; see `HOOK_TIMEOUT_MS`). */
  readonly hookTimeoutMs?: number | undefined
  /**
   * The fix named when a schedule or webhook of the config is refused for a graph whose
   * language-model node has no model to use (default: how a library caller gives one).
   */
  readonly noModelFix?: string | undefined
}

/**
 * The registered graph a spec's `graph` (id, or path relative to the config) names; a
 * mistake is the trigger's (`cron:<id>`, `webhook:<id>`), located at `field`
 * (`schedules[0].graph`), with the registered graph the name most likely meant.
 */
const graphOf = (
  graph: string,
  config: ResolvedConfig,
  registry: GraphRegistryShape,
  at: { readonly triggerId: string; readonly field: string }
): Effect.Effect<Graph, TriggerError> => {
  const refuse = (message: string, fix: string) => Effect.fail(new TriggerError({ reason: "invalid-config", triggerId: at.triggerId, message: `${at.field}: ${message}`, fix }))
  if (!isPath(graph)) {
    const found = registry.list().find((g) => g.id === graph)
    if (found !== undefined) return Effect.succeed(found)
    const ids = registry.list().map((g) => g.id)
    const meant = closestName(graph, ids)
    return refuse(
      `graph '${graph}' is not registered`,
      `${meant !== undefined ? `did you mean '${meant}'? ` : ""}name a registered graph (${listSome(ids) || "none: pass --graphs"}) or the graph file's path, relative to stargraph.yaml`
    )
  }
  const file = resolve(config.file ? resolve(config.file, "..") : process.cwd(), graph)
  const found = registry.list().find((g) => g.source === file)
  return found ? Effect.succeed(found) : refuse(`graph file ${file} is not registered`, "check the path (it is relative to stargraph.yaml)")
}

/**
 * A trigger's fixed params against its graph's state schema: a schedule's are the run's
 * whole inputs (`complete`); a webhook's are merged with each delivery's body (`partial`:
 * only their names are checked, and `payload_field`'s).
 */
const checkParams = (
  triggerId: string,
  graph: Graph,
  params: { readonly [field: string]: unknown },
  how: "complete" | "partial"
): Effect.Effect<void, TriggerError> => {
  const graphId = graph.id
  const refuse = (message: string, fix: string) => Effect.fail(new TriggerError({ reason: "invalid-config", triggerId, message, fix }))
  const unknown = Object.keys(params).find((field) => !graph.state.fields.has(field))
  if (unknown !== undefined) {
    return refuse(`params names '${unknown}', which graph '${graphId}' does not declare`, `use its state fields: ${listSome(graph.state.fields.keys())}`)
  }
  if (how === "partial") return Effect.void
  return Either.match(graph.initialState(params), {
    // The fix is in stargraph.yaml (the state check's own fix is for --inputs and POST /v1/runs).
    onLeft: (e) => refuse(`params do not fit graph '${graphId}': field '${e.field}': ${e.message}`, `set params.${e.field} of ${triggerId} in stargraph.yaml to a value of its declared type`),
    onRight: () => Effect.void
  })
}

/**
 * A webhook's `thread_from` against its graph: without `payload_field` the body's keys are
 * the run's params, so the body's field the thread id is read from (the path's first part)
 * is one of them, and the graph must declare it (as an object when the id is inside it):
 * otherwise every delivery that carries a thread id is refused.
 */
const checkThreadFrom = (triggerId: string, graph: Graph, spec: { readonly thread_from?: string | undefined; readonly payload_field?: string | undefined }): Effect.Effect<void, TriggerError> => {
  if (spec.thread_from === undefined || spec.payload_field !== undefined) return Effect.void
  const [head, ...rest] = spec.thread_from.split(".")
  const field = graph.state.fields.get(head!)
  const why = `thread_from '${spec.thread_from}' reads the body's '${head}', and without payload_field the body's keys are the run's params`
  const orPayload = "or set payload_field to a declared field to hold the whole body (thread_from still reads the body)"
  if (field === undefined) {
    const meant = closestName(head!, [...graph.state.fields.keys()])
    return Effect.fail(new TriggerError({
      reason: "invalid-config",
      triggerId,
      message: `${why}: graph '${graph.id}' does not declare '${head}', so every delivery carrying a thread id would be refused (StateValidationError)`,
      fix: meant !== undefined
        ? `did you mean thread_from: ${[meant, ...rest].join(".")}? Else declare '${head}' in the graph's state_schema, ${orPayload}`
        : `declare '${head}' in the graph's state_schema (its fields: ${listSome(graph.state.fields.keys())}), ${orPayload}`
    }))
  }
  const type = field.type
  if (rest.length > 0 && type !== undefined && type !== "object" && type !== "any") {
    return Effect.fail(new TriggerError({
      reason: "invalid-config",
      triggerId,
      message: `${why}: graph '${graph.id}' declares '${head}' as ${type}, and the thread id is inside it (an object), so every delivery carrying a thread id would be refused (StateValidationError)`,
      fix: `declare '${head}' as type object (or any) in the graph's state_schema, ${orPayload}`
    }))
  }
  return Effect.void
}

/**
 * The plugins to load: those packages declare (under `pluginRoot`), configured by
 * `stargraph.yaml` `plugins:` entries naming their package, then the project's own.
 */
const pluginRefs = (options: TriggerHostOptions, config: ResolvedConfig | undefined): Effect.Effect<ReadonlyArray<PluginRef>, TriggerError> =>
  Effect.gen(function*() {
    const root = options.pluginRoot
    const base = config?.file ? dirname(resolve(config.file)) : root ?? process.cwd()
    const declared = root ? discoverPackagePlugins(root) : []
    const configured = config?.packagePlugins ?? []
    for (const c of configured) {
      if (!declared.some((ref) => ref.package === c.package && ref.trigger === c.trigger)) {
        return yield* new TriggerError({
          reason: "plugin-not-found",
          triggerId: `${c.package}:stargraph.triggers:${c.trigger}`,
          message: `no package '${c.package}' declaring the trigger '${c.trigger}' was found${root ? ` in ${root} or its node_modules` : " (package discovery is off)"}`,
          fix: `install the package (npm install ${c.package}) in the folder serve runs from, and check its package.json "stargraph": {"triggers": {"${c.trigger}": …}}`
        })
      }
    }
    const packaged = declared.map((ref): PluginRef => {
      const given = configured.find((c) => c.package === ref.package && c.trigger === ref.trigger)
      return { ...ref, config: given?.config ?? { config_dir: base } }
    })
    return [...packaged, ...(config?.plugins ?? [])]
  })

/** `scheduler` with each `enqueue` counted as a dispatch of the plugin trigger `name`. */
const metered = (scheduler: SchedulerShape, name: string, metrics: MetricsShape): SchedulerShape => ({
  ...scheduler,
  enqueue: (graphId, params, options) =>
    scheduler.enqueue(graphId, params, options).pipe(
      Effect.tapBoth({
        onFailure: () => Effect.sync(() => metrics.triggerDispatched(name, "plugin", "failure")),
        onSuccess: (enqueued) => Effect.sync(() => metrics.triggerDispatched(name, "plugin", enqueued.deduplicated ? "deduplicated" : "success"))
      })
    )
})

/** Build, init and start every trigger; stop them when the scope closes. */
export const start = (
  options: TriggerHostOptions = {}
): Effect.Effect<StartedTriggers, TriggerError | LanguageModelError, Scope.Scope | Scheduler | GraphRegistry | Checkpointer> =>
  Effect.gen(function*() {
    const scheduler = yield* Scheduler
    const registry = yield* GraphRegistry
    const checkpointer = yield* Checkpointer
    const manual = ManualTrigger.make()
    const triggers: Array<Trigger> = [manual]
    const config = options.config
    if (config) {
      // Checked now, so a mistake stops the start instead of failing at every tick.
      const schedules = yield* Effect.forEach(config.config.schedules, (s, i) =>
        Effect.flatMap(graphOf(s.graph, config, registry, { triggerId: `cron:${s.id}`, field: `schedules[${i}].graph` }), (graph) =>
          Effect.as(
            Effect.zipRight(checkParams(`cron:${s.id}`, graph, s.params, "complete"), checkTriggerModel(`schedule '${s.id}' (schedules[${i}] in stargraph.yaml)`, graph, options.noModelFix)),
            { ...s, graph: graph.id }
          )))
      const webhooks = yield* Effect.forEach(config.config.webhooks, (w, i) =>
        Effect.flatMap(graphOf(w.graph, config, registry, { triggerId: `webhook:${w.id}`, field: `webhooks[${i}].graph` }), (graph) =>
          Effect.as(
            Effect.zipRight(
              checkParams(`webhook:${w.id}`, graph, { ...w.params, ...(w.payload_field !== undefined ? { [w.payload_field]: null } : {}) }, "partial"),
              Effect.zipRight(checkThreadFrom(`webhook:${w.id}`, graph, w), checkTriggerModel(`webhook '${w.id}' (webhooks[${i}] in stargraph.yaml)`, graph, options.noModelFix))
            ),
            { ...w, graph: graph.id }
          )))
      if (schedules.length > 0) triggers.push(yield* CronTrigger.make(schedules))
      if (webhooks.length > 0) triggers.push(yield* WebhookTrigger.make(webhooks, options.env))
    }
    // The built-in triggers (manual, cron, webhook): the rest are plugins and the application's.
    const builtIn: ReadonlySet<Trigger> = new Set(triggers)
    const refs = yield* pluginRefs(options, config)
    const configOf = new Map<Trigger, { readonly [key: string]: unknown }>()
    const load: Array<DispatchResult> = []
    for (const ref of refs) {
      const loaded = yield* Effect.either(loadPlugin(ref))
      if (Either.isRight(loaded)) {
        configOf.set(loaded.right, ref.config)
        triggers.push(loaded.right)
        load.push({ pluginName: ref.name, success: true })
      } else if (loaded.left.reason === "plugin-not-found") {
        return yield* loaded.left
      } else {
        load.push(yield* reportFailure(ref.name, "load", loaded.left))
      }
    }
    triggers.push(...(yield* ExtraTriggers))
    const names = new Set<string>()
    for (const t of triggers) {
      if (names.has(t.name)) {
        return yield* new TriggerError({ reason: "duplicate-trigger", triggerId: t.name, message: `two triggers are named '${t.name}'`, fix: "rename one of them" })
      }
      names.add(t.name)
    }

    // A plugin's (or the application's) trigger fires through `enqueue`: each call is one
    // dispatch in the metrics (the built-in triggers count their own deliveries and ticks).
    const metrics = yield* Metrics
    const depsFor = (t: Trigger): TriggerDeps => ({
      scheduler: builtIn.has(t) ? scheduler : metered(scheduler, t.name, metrics),
      registry,
      checkpointer,
      config: configOf.get(t) ?? {}
    })
    const dispatch = (phase: "init" | "start" | "stop", list: ReadonlyArray<Trigger>) =>
      Effect.map(Effect.forEach(list, (t) => dispatchTriggerLifecycle(phase, [t], depsFor(t), options.hookTimeoutMs)), (r) => r.flat())

    const init = yield* dispatch("init", triggers)
    const ready = triggers.filter((_, i) => init[i]?.success === true)
    const started = yield* dispatch("start", ready)
    yield* Effect.addFinalizer(() => Effect.asVoid(dispatch("stop", ready)))
    const { results: routeResults, routes } = yield* collectTriggerRoutes(ready, options.hookTimeoutMs)
    return { manual, triggers, load, init, start: started, routeResults, routes }
  })
