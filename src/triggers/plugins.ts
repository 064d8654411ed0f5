/**
 * Trigger plugin discovery and loading, the analogue of the spec's `stargraph.triggers`
 * entry-point group. A package declares its triggers in `package.json`:
 *
 *   "stargraph": { "triggers": { "fswatch": "./dist/fswatch.js#FilesystemWatchTrigger" } }
 *
 * and a project lists its own in `stargraph.yaml` `plugins:` (which also configures the
 * triggers packages declare). The export is a class (instantiated with `new
 * Class(config)`), a factory `(config) => trigger` (sync or async), or a trigger object;
 * the trigger's hooks are always called as its methods, so a class instance keeps its
 * prototype. Its `init` receives the Promise-facing {@link PluginDeps}.
 */
import { dirname, resolve } from "node:path"
import * as Effect from "effect/Effect"
import { TriggerError } from "../errors.js"
import { loadModule, pickExport } from "../nodes/loader.js"
import { installedPackages } from "../nodes/packages.js"
import { describeFailure } from "./Dispatcher.js"
import { makePluginDeps, type PluginRoute, type PluginTrigger } from "./PluginDeps.js"
import { hookEffect, type Trigger, type TriggerRoute } from "./Trigger.js"
import { trace } from "./trace.js"

/** Where a plugin comes from. */
export interface PluginRef {
  /** Qualified name, e.g. `my-triggers:stargraph.triggers:fswatch` or `project:fswatch`. */
  readonly name: string
  /** Absolute module path. */
  readonly module: string
  /** Export name (default `default`). */
  readonly export: string
  readonly config: { readonly [key: string]: unknown }
  /** For a trigger a package declares: the package's name and the trigger's key in its `stargraph.triggers`. */
  readonly package?: string | undefined
  readonly trigger?: string | undefined
}

const parseTarget = (target: string): { module: string; exportName: string } => {
  const [module, exportName] = target.split("#")
  return { module: module ?? target, exportName: exportName ?? "default" }
}

/**
 * Plugin refs declared by the packages `root` can use: its own `package.json` and the
 * packages Node would find from it (`node_modules` here and in the folders above).
 */
export const discoverPackagePlugins = (root: string): ReadonlyArray<PluginRef> =>
  installedPackages(root).flatMap((pkg) => {
    const triggers = pkg.stargraph["triggers"]
    if (triggers === undefined || typeof triggers !== "object" || triggers === null) return []
    return Object.entries(triggers as Record<string, unknown>).map(([name, target]): PluginRef => {
      const { module, exportName } = parseTarget(String(target))
      return { name: `${pkg.name}:stargraph.triggers:${name}`, module: resolve(pkg.dir, module), export: exportName, config: {}, package: pkg.name, trigger: name }
    })
  })

const HOOKS = ["init", "start", "stop", "routes"] as const

/** True for an object whose four hooks are callable (own or inherited, e.g. a class instance). */
const isTriggerLike = (value: unknown): value is PluginTrigger =>
  typeof value === "object" && value !== null &&
  HOOKS.every((k) => typeof (value as Record<string, unknown>)[k] === "function")

/** Any function a plugin may export: a class, or a factory. */
type Exported = (...args: ReadonlyArray<unknown>) => unknown

/** True for a class (or a constructor function whose prototype carries the hooks). */
const isClass = (value: Exported): boolean => {
  if (/^class[\s{]/.test(Function.prototype.toString.call(value))) return true
  const prototype = (value as { prototype?: Record<string, unknown> }).prototype
  return prototype !== undefined && HOOKS.some((k) => typeof prototype[k] === "function")
}

const METHODS: ReadonlySet<string> = new Set(["GET", "POST", "PUT", "DELETE"])

/** A plugin's route as the server mounts it: any handler result, failures logged and answered 500. */
const adaptRoute = (plugin: string, route: PluginRoute): TriggerRoute => ({
  method: route.method,
  path: route.path,
  ...(route.maxBodyBytes !== undefined ? { maxBodyBytes: route.maxBodyBytes } : {}),
  ...(route.openapi !== undefined ? { openapi: route.openapi } : {}),
  handle: (request) =>
    hookEffect(() => route.handle(request)).pipe(
      Effect.flatMap((answer) =>
        typeof answer === "object" && answer !== null && Number.isInteger((answer as { status?: unknown }).status)
          ? Effect.succeed(answer)
          : Effect.fail(new Error("the handler must answer {status, body}"))
      ),
      Effect.catchAllDefect(Effect.fail),
      // The server logs a defect in full and answers the internal-error envelope (no details on the wire).
      Effect.mapError((e) => new Error(`trigger ${plugin}: ${route.method} ${route.path} failed: ${describeFailure(e)}`, { cause: e })),
      Effect.orDie
    )
})

/** The routes a plugin returned, checked and adapted; anything else fails its `routes()` hook. */
const adaptRoutes = (plugin: string, routes: unknown): Effect.Effect<ReadonlyArray<TriggerRoute>, Error> => {
  if (!Array.isArray(routes)) return Effect.fail(new Error(`routes() must return an array, got ${typeof routes}`))
  for (const r of routes as ReadonlyArray<Partial<PluginRoute> | null>) {
    if (r === null || typeof r !== "object" || !METHODS.has(String(r.method)) || typeof r.path !== "string" || !r.path.startsWith("/") || typeof r.handle !== "function") {
      return Effect.fail(new Error("every route must be {method: GET|POST|PUT|DELETE, path: \"/...\", handle(request)}"))
    }
  }
  return Effect.succeed((routes as ReadonlyArray<PluginRoute>).map((r) => adaptRoute(plugin, r)))
}

/** A plugin instance as a Trigger: hooks called as its methods, `init` given the PluginDeps. */
const adapt = (instance: PluginTrigger, name: string): Trigger => ({
  name,
  init: (deps) => Effect.flatMap(Effect.runtime<never>(), (runtime) => hookEffect(() => instance.init(makePluginDeps(deps, runtime, name)))),
  start: () => hookEffect(() => instance.start()),
  stop: () => hookEffect(() => instance.stop()),
  routes: () => Effect.flatMap(hookEffect(() => instance.routes()), (routes) => adaptRoutes(name, routes))
})

/**
 * Import a plugin and build its Trigger. A declaration that points nowhere (no such
 * module file, no such export) fails with `plugin-not-found`, a configuration error;
 * anything the plugin's own code does wrong (its module throws at top level, its
 * constructor or factory throws or rejects, it builds something that is not a trigger)
 * fails with `lifecycle-failed` and a `load failed: …` message, which the host reports
 * as that plugin's `DispatchResult` while the others carry on.
 */
export const loadPlugin = (ref: PluginRef): Effect.Effect<Trigger, TriggerError> =>
  Effect.gen(function*() {
    const moduleRef = { nodeId: ref.name, module: ref.module, exportName: ref.export }
    const notFound = (message: string, fix: string) => new TriggerError({ reason: "plugin-not-found", triggerId: ref.name, message, fix })
    const loadFailed = (message: string, fix: string) =>
      new TriggerError({ reason: "lifecycle-failed", triggerId: ref.name, message: `load failed: ${message}`, fix })
    const loaded = yield* loadModule(dirname(ref.module), moduleRef).pipe(
      Effect.mapError((e) =>
        e.reason === "module-not-found"
          ? notFound(e.message, ref.package ? `reinstall the package ${ref.package}, or fix its package.json "stargraph" field` : e.fix)
          : loadFailed(e.message, `fix the error in ${ref.module} (run it with \`npx tsx\` to see the full trace); the other triggers carry on`)
      )
    )
    let exported = yield* pickExport(loaded.namespace, moduleRef).pipe(Effect.mapError((e) => notFound(e.message, e.fix)))
    // A `.ts` module loaded as CommonJS puts `export default` under `default.default`.
    if (ref.export === "default" && typeof exported === "object" && exported !== null && !isTriggerLike(exported) && "default" in exported) {
      exported = (exported as { default: unknown }).default
    }
    const fix = `fix ${ref.module} (export '${ref.export}'); the other triggers carry on`
    const built = isTriggerLike(exported)
      ? exported
      : typeof exported === "function"
      ? yield* hookEffect((): unknown => {
        const make = exported as Exported
        return isClass(make) ? Reflect.construct(make, [ref.config]) : make(ref.config)
      }).pipe(
        Effect.catchAllDefect((defect) => Effect.fail(defect)),
        Effect.mapError((e) =>
          loadFailed(`${isClass(exported as Exported) ? `new ${ref.export}(config)` : `${ref.export}(config)`} threw: ${describeFailure(e)}`, fix)
        )
      )
      : undefined
    if (!isTriggerLike(built)) {
      return yield* loadFailed(
        `export '${ref.export}' of ${ref.module} is not a trigger (an object with init, start, stop and routes methods), nor a class or factory building one`,
        "export a class with init/start/stop/routes methods, a function (config) => trigger, or a trigger object"
      )
    }
    const name = typeof built.name === "string" && built.name !== "" ? built.name : ref.name
    trace("plugin.register", { plugin: ref.name, trigger: name, module: ref.module })
    return adapt(built, name)
  })
