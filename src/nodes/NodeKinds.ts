/**
 * Where node kinds come from besides the built-ins: kinds an app provides as a Layer
 * ({@link layer}), kinds packages declare in their `package.json`
 *
 *   "stargraph": { "nodes": { "geo_lookup": "./dist/geo.js#GeoLookup" } }
 *
 * and kinds a graph names by module reference (`kind: "./my-node.ts:MyNode"`). A
 * module's export is a {@link NodeKind.NodeKind} (made with `NodeKind.make`), a class
 * with an `execute(state, ctx)` method (constructed with the node's `config`, like the
 * original's `module.path:ClassName`), an object with `execute`, or a node function.
 */
import { resolve } from "node:path"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Schema from "effect/Schema"
import { NodeModuleError } from "../errors.js"
import { functionExecutor } from "./callFunction.js"
import type { NodeFunction } from "./Executor.js"
import { builtinKinds } from "./kinds/index.js"
import * as NodeKind from "./NodeKind.js"
import { installedPackages } from "./packages.js"

/** Extra node kinds available to every graph built in this context. */
export class NodeKinds extends Context.Reference<NodeKinds>()("stargraph/NodeKinds", {
  defaultValue: (): ReadonlyArray<NodeKind.NodeKind> => []
}) {}

/** A Layer adding `kinds` to the ones already provided. */
export const layer = (...kinds: ReadonlyArray<NodeKind.NodeKind>): Layer.Layer<NodeKinds> =>
  Layer.effect(NodeKinds, Effect.map(NodeKinds, (current) => [...current, ...kinds]))

/** The kinds by name: built-ins first; a provided kind cannot replace a built-in. */
export const kindTable = (extra: ReadonlyArray<NodeKind.NodeKind>): { readonly table: ReadonlyMap<string, NodeKind.NodeKind>; readonly clash: string | undefined } => {
  const table = new Map<string, NodeKind.NodeKind>()
  let clash: string | undefined
  for (const kind of [...builtinKinds, ...extra]) {
    if (table.has(kind.name) && table.get(kind.name) !== kind) clash ??= kind.name
    else table.set(kind.name, kind)
  }
  return { table, clash }
}

/** A kind written as a module reference: `./path/to/module.ts:Export` (or `#Export`). */
export interface KindModuleRef {
  readonly module: string
  readonly exportName: string
}

/** Split `./my-node.ts:MyNode`; `undefined` for a plain kind name. */
export const parseKindRef = (kind: string): KindModuleRef | undefined => {
  const at = Math.max(kind.lastIndexOf(":"), kind.lastIndexOf("#"))
  if (at <= 0) return undefined
  return { module: kind.slice(0, at), exportName: kind.slice(at + 1) }
}

/** Whether a module reference is a path (`./x.ts`, `../x.js`, `/abs/x.mjs`), not a Python dotted module. */
export const isPathRef = (ref: KindModuleRef): boolean => /^(\.{1,2}\/|\/)/.test(ref.module) || /\.(m|c)?(t|j)sx?$/.test(ref.module)

/** A kind a package declares in its `package.json`. */
export interface PackageKind {
  readonly name: string
  readonly package: string
  /** The package's folder (the module is confined to it). */
  readonly dir: string
  /** The entry as written (`./dist/geo.js#GeoLookup`). */
  readonly target: string
  readonly module: string
  readonly exportName: string
}

/**
 * What the packages of a project declare, by kind name: the kind, or what is wrong with
 * the declaration (reported when a graph uses the name, not before: a package a graph
 * does not use cannot break it).
 */
export type PackageDeclaration =
  | { readonly _tag: "Kind"; readonly kind: PackageKind }
  /** Two or more packages declare the name. */
  | { readonly _tag: "Clash"; readonly packages: ReadonlyArray<string> }
  /** The package's entry cannot be used as it is written. */
  | { readonly _tag: "Invalid"; readonly package: string; readonly target: string; readonly problem: string; readonly fix: string }

const discovered = new Map<string, ReadonlyMap<string, PackageDeclaration>>()

/**
 * Kinds declared in the `package.json` of the packages `dir` can use (see
 * {@link installedPackages}: where Node itself would find them). Read once per folder.
 */
export const packageKinds = (dir: string): ReadonlyMap<string, PackageDeclaration> => {
  const start = resolve(dir)
  const cached = discovered.get(start)
  if (cached) return cached
  const found = new Map<string, PackageDeclaration>()
  for (const pkg of installedPackages(start)) {
    const nodes = pkg.stargraph["nodes"]
    if (nodes === null || typeof nodes !== "object") continue
    for (const [kind, target] of Object.entries(nodes as Record<string, unknown>)) {
      const ref = typeof target === "string" ? parseKindRef(target) : undefined
      const declaration: PackageDeclaration = !NodeKind.KIND_NAME.test(kind)
        ? { _tag: "Invalid", package: pkg.name, target: String(target), problem: `the kind name '${kind}' is not a valid kind name`, fix: "name kinds with a letter, then letters, digits, '_' or '-' (a ':' or '#' makes it a module reference)" }
        : ref === undefined || ref.exportName === ""
        ? { _tag: "Invalid", package: pkg.name, target: String(target), problem: `'${String(target)}' names no export`, fix: `write the entry as "./path/to/module.js#ExportName"` }
        : { _tag: "Kind", kind: { name: kind, package: pkg.name, dir: pkg.dir, target: String(target), module: resolve(pkg.dir, ref.module), exportName: ref.exportName } }
      const existing = found.get(kind)
      if (existing === undefined) found.set(kind, declaration)
      else found.set(kind, { _tag: "Clash", packages: [...(existing._tag === "Clash" ? existing.packages : [existing._tag === "Kind" ? existing.kind.package : existing.package]), pkg.name] })
    }
  }
  discovered.set(start, found)
  return found
}

/** Config of a kind a module exports as a class, an object or a function. */
const classFields = {
  spec: Schema.optional(Schema.String),
  config: Schema.optional(Schema.Record({ key: Schema.String, value: Schema.Unknown }))
}

interface Executable {
  readonly execute: (state: never, ctx: never) => unknown
}

const hasExecute = (value: unknown): value is Executable =>
  value !== null && (typeof value === "object" || typeof value === "function") && typeof (value as { execute?: unknown }).execute === "function"

/** A class whose instances have `execute`. */
const isExecutableClass = (value: unknown): value is new (config: { readonly [key: string]: unknown }) => Executable =>
  typeof value === "function" && hasExecute((value as { prototype?: unknown }).prototype)

/**
 * The node kind a module export stands for, named `name` in errors. A NodeKind is used as
 * it is; a class is constructed once per node with its `config`; an object's or an
 * instance's `execute` is called as its method.
 */
export const fromExport = (value: unknown, name: string, ref: { readonly nodeId: string; readonly module: string; readonly exportName: string }): Effect.Effect<NodeKind.NodeKind, NodeModuleError> => {
  if (NodeKind.isNodeKind(value)) return Effect.succeed(value)
  if (typeof value === "function" && /^class[\s{]/.test(Function.prototype.toString.call(value)) && !isExecutableClass(value)) {
    return Effect.fail(new NodeModuleError({
      ...ref,
      reason: "not-a-function",
      message: `class '${ref.exportName}' of '${ref.module}' has no execute(state, ctx) method`,
      fix: "give the class an execute(state, ctx) method returning the node's state updates"
    }))
  }
  const asFunction = (instance: Executable): NodeFunction<unknown, unknown> => (state, ctx) =>
    (instance.execute as unknown as NodeFunction<unknown, unknown>).call(instance, state, ctx)
  if (isExecutableClass(value) || hasExecute(value) || typeof value === "function") {
    const make = (config: { readonly [key: string]: unknown }): Effect.Effect<NodeFunction<unknown, unknown>, NodeModuleError> => {
      if (isExecutableClass(value)) {
        return Effect.try({
          try: () => asFunction(new value(config)),
          catch: (cause) => new NodeModuleError({ ...ref, reason: "load-failed", message: `constructing ${ref.exportName} failed: ${cause instanceof Error ? cause.message : String(cause)}`, fix: "fix the class's constructor, or the node's config" })
        })
      }
      return Effect.succeed(hasExecute(value) ? asFunction(value) : (value as NodeFunction<unknown, unknown>))
    }
    return Effect.succeed(NodeKind.make({
      name,
      summary: `Node class ${ref.exportName} from ${ref.module}.`,
      fields: classFields,
      stops: "may-ask-for-input",
      compile: (node) => Effect.map(make(node.config ?? {}), (fn) => ({ execute: functionExecutor(fn, {}) }))
    }))
  }
  return Effect.fail(new NodeModuleError({
    ...ref,
    reason: "not-a-function",
    message: `export '${ref.exportName}' of '${ref.module}' is a ${value === null ? "null" : typeof value}, not a node kind`,
    fix: "export a NodeKind (NodeKind.make from 'stargraph'), a class with an execute(state, ctx) method, or a function (state, ctx) => update"
  }))
}
