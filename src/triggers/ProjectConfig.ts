/**
 * `stargraph.yaml`, the project config beside the graphs: scheduler limits, cron
 * schedules, webhooks and trigger plugins. Unknown fields are refused. A schedule's or
 * webhook's `graph` is a graph id, or a path to a graph YAML (relative to the config).
 */
import { existsSync, readFileSync } from "node:fs"
import { dirname, isAbsolute, resolve } from "node:path"
import * as Effect from "effect/Effect"
import * as ParseResult from "effect/ParseResult"
import * as Schema from "effect/Schema"
import { parse as parseYaml } from "yaml"
import { TriggerError } from "../errors.js"
import { literalChoices } from "../ir/parse.js"
import { CronSpec } from "./CronTrigger.js"
import type { PluginRef } from "./plugins.js"
import { WebhookSpec } from "./WebhookTrigger.js"

/**
 * A trigger plugin listed in the project config: either a project module (`module`), or
 * the configuration of a trigger a package declares in its package.json (`package`,
 * with `name` the trigger's key in that package's `stargraph.triggers`).
 */
export const PluginSpec = Schema.Struct({
  name: Schema.String.pipe(Schema.minLength(1)),
  /** Module path relative to the config file (`.ts` or `.js`). */
  module: Schema.optional(Schema.String.pipe(Schema.minLength(1))),
  /** A package (under node_modules, or the project itself) whose package.json declares the trigger `name`. */
  package: Schema.optional(Schema.String.pipe(Schema.minLength(1))),
  export: Schema.optionalWith(Schema.String, { default: () => "default" }),
  config: Schema.optionalWith(Schema.Record({ key: Schema.String, value: Schema.Unknown }), { default: () => ({}) })
}).pipe(Schema.filter((p) => (p.module === undefined) !== (p.package === undefined) || "give exactly one of module (a project plugin) or package (a package's trigger)"))

/** The configuration `stargraph.yaml` gives a trigger a package declares. */
export interface PackagePluginConfig {
  readonly package: string
  /** The trigger's key in the package's `stargraph.triggers`. */
  readonly trigger: string
  /** `plugins[].config` plus `config_dir`. */
  readonly config: { readonly [key: string]: unknown }
}

/** The whole `stargraph.yaml`. */
export const ProjectConfig = Schema.Struct({
  /** Extra graph files or folders to register (relative to the config). */
  graphs: Schema.optionalWith(Schema.Array(Schema.String), { default: () => [] }),
  scheduler: Schema.optional(Schema.Struct({
    per_graph: Schema.optional(Schema.Int.pipe(Schema.positive())),
    global: Schema.optional(Schema.Int.pipe(Schema.positive())),
    per_graph_overrides: Schema.optional(Schema.Record({ key: Schema.String, value: Schema.Int.pipe(Schema.positive()) })),
    /** How long (ms) a cancelled or timed-out node body is waited for before its slot is given up (default 30 000). */
    abort_grace_ms: Schema.optional(Schema.Int.pipe(Schema.nonNegative())),
    /**
     * How long (ms) a stopping server waits for its in-flight runs to commit their current
     * step before it interrupts the steps still going (default 10 000; `serve --drain-timeout`).
     */
    drain_timeout_ms: Schema.optional(Schema.Int.pipe(Schema.nonNegative()))
  })),
  schedules: Schema.optionalWith(Schema.Array(CronSpec), { default: () => [] }),
  webhooks: Schema.optionalWith(Schema.Array(WebhookSpec), { default: () => [] }),
  plugins: Schema.optionalWith(Schema.Array(PluginSpec), { default: () => [] })
})
/** The whole `stargraph.yaml`. */
export type ProjectConfig = typeof ProjectConfig.Type

/** A config with graph paths made absolute and plugin modules resolved. */
export interface ResolvedConfig {
  readonly config: ProjectConfig
  /** Graph files and folders to load into the registry. */
  readonly graphPaths: ReadonlyArray<string>
  /** Project plugins (`plugins:` entries with a `module`). */
  readonly plugins: ReadonlyArray<PluginRef>
  /** Configuration for triggers packages declare (`plugins:` entries with a `package`). */
  readonly packagePlugins?: ReadonlyArray<PackagePluginConfig> | undefined
  readonly file: string | undefined
}

/** True when a `graph` reference is a file path rather than a graph id. */
export const isPath = (graph: string) => graph.includes("/") || /\.ya?ml$/.test(graph)

/** Decode a config object (already parsed); `file` anchors relative paths. */
export const decode = (raw: unknown, file: string | undefined): Effect.Effect<ResolvedConfig, TriggerError> =>
  Effect.gen(function*() {
    const label = file ?? "stargraph config"
    const config = yield* Schema.decodeUnknown(ProjectConfig, { onExcessProperty: "error" })(raw ?? {}).pipe(
      Effect.mapError((error) => {
        const issues = ParseResult.ArrayFormatter.formatErrorSync(error)
        const issue = issues[0]
        const path = (issue?.path ?? []).map((p, i) => (typeof p === "number" ? `[${p}]` : i === 0 ? String(p) : `.${String(p)}`)).join("")
        // A value outside a set of choices (catch_up): the message and the fix name them all.
        const choices = literalChoices(issues)
        const actual = /, actual (.*)$/.exec(issue?.message ?? "")?.[1]
        return new TriggerError({
          reason: "invalid-config",
          triggerId: path || "<config>",
          message: `${label}: ${path || "<root>"}: ${choices.length > 1 && actual !== undefined ? `expected one of ${choices.map((c) => JSON.stringify(c)).join(", ")}, got ${actual}` : issue?.message ?? "invalid"}`,
          fix: choices.length > 1 ? `use one of: ${choices.join(", ")}` : "see docs/triggers.md for the stargraph.yaml fields"
        })
      })
    )
    const base = file ? dirname(resolve(file)) : process.cwd()
    // A path that names nothing is refused here, where its field is known.
    const named: ReadonlyArray<readonly [field: string, path: string, fix: string]> = [
      ...config.graphs.map((g, i) => [`graphs[${i}]`, g, "a graph file or a folder of graphs"] as const),
      ...(["schedules", "webhooks"] as const).flatMap((list) =>
        config[list].flatMap((s, i) => (isPath(s.graph) ? [[`${list}[${i}].graph`, s.graph, "a graph file, or give a registered graph's id"] as const] : [])))
    ]
    for (const [field, path, what] of named) {
      if (!existsSync(resolve(base, path))) {
        return yield* new TriggerError({
          reason: "invalid-config",
          triggerId: field,
          message: `${label}: ${field}: there is no file or folder ${resolve(base, path)}${isAbsolute(path) ? "" : ` ('${path}' is relative to ${file ? "the config's folder" : "the current folder"})`}`,
          fix: `correct the path (relative to ${base}) to ${what}`
        })
      }
    }
    const graphPaths = [
      ...config.graphs.map((g) => resolve(base, g)),
      ...[...config.schedules, ...config.webhooks].flatMap((s) => (isPath(s.graph) ? [resolve(base, s.graph)] : []))
    ]
    // `config_dir` lets a plugin resolve its own relative paths against stargraph.yaml.
    const plugins: Array<PluginRef> = config.plugins.flatMap((p) =>
      p.module === undefined ? [] : [{ name: `project:${p.name}`, module: resolve(base, p.module), export: p.export, config: { config_dir: base, ...p.config } }]
    )
    const packagePlugins: Array<PackagePluginConfig> = config.plugins.flatMap((p) =>
      p.package === undefined ? [] : [{ package: p.package, trigger: p.name, config: { config_dir: base, ...p.config } }]
    )
    return { config, graphPaths: [...new Set(graphPaths)], plugins, packagePlugins, file }
  })

/** Read and decode `stargraph.yaml`. */
export const load = (file: string): Effect.Effect<ResolvedConfig, TriggerError> =>
  Effect.gen(function*() {
    const text = yield* Effect.try({
      try: () => readFileSync(file, "utf8"),
      catch: (e) => new TriggerError({ reason: "invalid-config", triggerId: file, message: `cannot read ${file}: ${String(e)}`, fix: "pass an existing stargraph.yaml" })
    })
    const raw = yield* Effect.try({
      try: () => parseYaml(text) as unknown,
      catch: (e) => new TriggerError({ reason: "invalid-config", triggerId: file, message: `${file} is not valid YAML: ${e instanceof Error ? e.message.split("\n")[0] : String(e)}`, fix: "fix the YAML syntax" })
    })
    return yield* decode(raw, file)
  })

/** `stargraph.yaml` in `dir`, if there is one. */
export const find = (dir: string): string | undefined => {
  const file = resolve(dir, "stargraph.yaml")
  return existsSync(file) ? file : undefined
}
