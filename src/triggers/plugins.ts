/**
 * Trigger plugin discovery and loading, the analogue of the spec's `stargraph.triggers`
 * entry-point group. A package declares its triggers in `package.json`:
 *
 *   "stargraph": { "triggers": { "fswatch": "./dist/fswatch.js#fswatchTrigger" } }
 *
 * and a project lists its own in `stargraph.yaml` `plugins:`. The export is a `Trigger`
 * object or a factory `(config) => Trigger` (sync or async).
 */
import { existsSync, readdirSync, readFileSync } from "node:fs"
import { dirname, join, resolve } from "node:path"
import * as Effect from "effect/Effect"
import { TriggerError } from "../errors.js"
import { loadModule, pickExport } from "../nodes/loader.js"
import { hookEffect, type Trigger } from "./Trigger.js"
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
}

const parseTarget = (target: string): { module: string; exportName: string } => {
  const [module, exportName] = target.split("#")
  return { module: module ?? target, exportName: exportName ?? "default" }
}

const readJson = (path: string): unknown => JSON.parse(readFileSync(path, "utf8"))

/** Plugin refs declared by `root`'s package.json and every package under `root/node_modules`. */
export const discoverPackagePlugins = (root: string): ReadonlyArray<PluginRef> => {
  const packageDirs = [root]
  const modules = join(root, "node_modules")
  if (existsSync(modules)) {
    for (const entry of readdirSync(modules)) {
      if (entry.startsWith(".")) continue
      if (entry.startsWith("@")) {
        for (const sub of readdirSync(join(modules, entry))) packageDirs.push(join(modules, entry, sub))
      } else {
        packageDirs.push(join(modules, entry))
      }
    }
  }
  const refs: Array<PluginRef> = []
  for (const dir of packageDirs) {
    const manifest = join(dir, "package.json")
    if (!existsSync(manifest)) continue
    let pkg: { name?: string; stargraph?: { triggers?: Record<string, string> } }
    try {
      pkg = readJson(manifest) as typeof pkg
    } catch {
      continue
    }
    const triggers = pkg.stargraph?.triggers
    if (triggers === undefined || typeof triggers !== "object") continue
    for (const [name, target] of Object.entries(triggers)) {
      const { module, exportName } = parseTarget(String(target))
      refs.push({ name: `${pkg.name ?? dir}:stargraph.triggers:${name}`, module: resolve(dir, module), export: exportName, config: {} })
    }
  }
  return refs
}

const isTrigger = (value: unknown): value is Trigger =>
  typeof value === "object" && value !== null &&
  ["init", "start", "stop", "routes"].every((k) => typeof (value as Record<string, unknown>)[k] === "function")

/** Import a plugin and build its Trigger. */
export const loadPlugin = (ref: PluginRef): Effect.Effect<Trigger, TriggerError> =>
  Effect.gen(function*() {
    const moduleRef = { nodeId: ref.name, module: ref.module, exportName: ref.export }
    const failed = (reason: "plugin-not-found" | "invalid-config", message: string, fix: string) =>
      new TriggerError({ reason, triggerId: ref.name, message, fix })
    const loaded = yield* loadModule(dirname(ref.module), moduleRef).pipe(
      Effect.mapError((e) => failed("plugin-not-found", e.message, e.fix))
    )
    const exported = yield* pickExport(loaded.namespace, moduleRef).pipe(
      Effect.mapError((e) => failed("plugin-not-found", e.message, e.fix))
    )
    const built = isTrigger(exported)
      ? exported
      : typeof exported === "function"
      ? yield* hookEffect(() => (exported as (config: unknown) => unknown)(ref.config)).pipe(
        Effect.mapError((e) => failed("invalid-config", `factory failed: ${e instanceof Error ? e.message : String(e)}`, "fix the plugin's configuration"))
      )
      : undefined
    if (!isTrigger(built)) {
      return yield* failed(
        "invalid-config",
        `export '${ref.export}' of ${ref.module} is not a Trigger (an object with init, start, stop, routes) nor a factory returning one`,
        "export a Trigger object or a function (config) => Trigger"
      )
    }
    const trigger: Trigger = { ...built, name: built.name || ref.name }
    trace("plugin.register", { plugin: ref.name, trigger: trigger.name, module: ref.module })
    return trigger
  })
