/**
 * Decoding a graph's nodes: each node's `kind` is looked up (built-ins, kinds provided as
 * a Layer, kinds declared by packages, or a module reference) and the kind decodes the
 * node's own fields, so an unknown field or a bad value is an IR error at its path.
 */
import { isAbsolute, relative, sep } from "node:path"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import type * as ParseResult from "effect/ParseResult"
import { type GraphError, IRValidationError, NodeModuleError } from "../errors.js"
import { closestChoice } from "../ir/didYouMean.js"
import { listSome } from "../ir/limits.js"
import { decodeError, irError, type IRSource } from "../ir/parse.js"
import type { IRDocument } from "../ir/schema.js"
import type { ModuleNamespace } from "../nodes/loader.js"
import { pickExport } from "../nodes/loader.js"
import type { DecodedNode, NodeKind } from "../nodes/NodeKind.js"
import { guardKind } from "../nodes/guardKind.js"
import { builtinKinds } from "../nodes/kinds/index.js"
import { fromExport, isPathRef, kindTable, NodeKinds, type PackageKind, packageKinds, parseKindRef } from "../nodes/NodeKinds.js"
import { firstIssue } from "../ir/parseIssue.js"

/** How {@link decodeNodes} loads the modules of module-referenced and package kinds. */
export interface KindModules {
  readonly baseDir: string
  /** Load a module; `hashKey` names its hash in the graph hash instead of its (absolute) path. */
  readonly resolveModule: (ref: { nodeId: string; module: string; exportName: string }, roots?: ReadonlyArray<string>, hashKey?: string) => Effect.Effect<ModuleNamespace, NodeModuleError>
}

/** `did you mean 'set'? ` for a kind name close to a known one (`sett`), else nothing. */
const didYouMean = (name: string, known: ReadonlyArray<string>): string => {
  const meant = closestChoice(name, known)
  return meant !== undefined ? `did you mean '${meant}'? ` : ""
}

/**
 * Decode every node of `ir` with its kind; `specs` are the nodes as decoded (for a graph in
 * the authoring format, with the keys their kinds take beside `config` moved there: the
 * IR that is hashed and shown), `ir.nodes` itself otherwise.
 */
export const decodeNodes = (
  ir: IRDocument,
  source: IRSource,
  modules: KindModules
): Effect.Effect<{ readonly decoded: ReadonlyArray<DecodedNode>; readonly specs: IRDocument["nodes"] }, GraphError> =>
  Effect.gen(function*() {
    const { table, clash } = kindTable(yield* NodeKinds)
    if (clash !== undefined) {
      return yield* irError(source, [], `two node kinds are named '${clash}'`, "rename the provided kind: it cannot replace a built-in kind or another provided kind")
    }
    // Kinds that are not built in run behind a guard (a broken kind fails its node, typed).
    const byModule = new Map<string, NodeKind>()
    const resolveKind = (name: string, i: number): Effect.Effect<NodeKind, GraphError> => {
      const known = byModule.get(name) ?? table.get(name)
      if (known !== undefined) {
        if (builtinKinds.includes(known) || byModule.has(name)) return Effect.succeed(known)
        const guarded = guardKind(known, "provided as a Layer")
        byModule.set(name, guarded)
        return Effect.succeed(guarded)
      }
      const at = ["nodes", i, "kind"]
      const nodeId = ir.nodes[i]!.id
      const ref = parseKindRef(name)
      if (ref !== undefined && isPathRef(ref)) {
        const full = { nodeId, module: ref.module, exportName: ref.exportName }
        return Effect.flatMap(modules.resolveModule(full), (ns) => Effect.flatMap(pickExport(ns, full, "reference"), (value) => fromExport(value, name, full))).pipe(
          Effect.map((kind) => guardKind(kind, `exported as ${ref.exportName} by ${ref.module}`)),
          Effect.tap((kind) => Effect.sync(() => byModule.set(name, kind)))
        )
      }
      // A name, or a reference that is no path: a package's kind (or a package entry that
      // cannot be one, such as `acme:stamp`, which reads as a module reference).
      const declaration = packageKinds(modules.baseDir).get(name)
      if (declaration?._tag === "Invalid") {
        return Effect.fail(irError(source, at, `the package ${declaration.package} declares the node kind '${name}' as '${declaration.target}', but ${declaration.problem}`,
          `${declaration.fix}, in ${declaration.package}'s package.json ("stargraph": {"nodes": …})`))
      }
      if (ref !== undefined) {
        return Effect.fail(irError(source, at, `'${name}' is a Python module reference; this runtime loads JavaScript and TypeScript modules`,
          `port the node to a module beside the graph and write kind: "./path/to/module.ts:${ref.exportName}" (exporting a NodeKind, a class with execute(state, ctx), or a function)`))
      }
      if (declaration?._tag === "Clash") {
        return Effect.fail(irError(source, at, `the node kind '${name}' is declared by several packages: ${declaration.packages.join(", ")}`,
          "keep one of them (uninstall, or rename the kind in the other's package.json \"stargraph\": {\"nodes\": …}), or name the kind by module reference: kind: \"./node_modules/<package>/<file>.js:<Export>\""))
      }
      if (declaration !== undefined) {
        const declared = declaration.kind
        const full = { nodeId, module: declared.module, exportName: declared.exportName }
        // Hashed under the package's name and the module's path in it: the same wherever the project is.
        const owner = isAbsolute(declared.package) ? relative(modules.baseDir, declared.dir).split(sep).join("/") || "." : declared.package
        const hashKey = `package:${owner}/${relative(declared.dir, declared.module).split(sep).join("/")}`
        return Effect.flatMap(modules.resolveModule(full, [declared.dir], hashKey), (ns) => Effect.flatMap(pickExport(ns, full, "package"), (value) => fromExport(value, name, full))).pipe(
          Effect.mapError((error) => packageModuleError(error, declared)),
          Effect.map((kind) => guardKind(kind, `declared by the package ${declared.package}`)),
          Effect.tap((kind) => Effect.sync(() => byModule.set(name, kind)))
        )
      }
      // A module path without its export (`./my-node.ts`): said as that, not as an unknown kind.
      if (/^\.{1,2}\/|^\/|\.(?:[cm]?[jt]s|tsx|jsx)$/.test(name)) {
        return Effect.fail(irError(source, at, `node kind '${name}' names a module but not its export`,
          `write kind: "${name}:<Export>", the export holding the kind (a NodeKind, a class with execute(state, ctx), or a function), e.g. ${name}:MyNode`))
      }
      return Effect.fail(irError(source, at, `unknown node kind '${name}'`,
        `${didYouMean(name, [...table.keys()])}use one of: ${listSome(table.keys(), 40)}${packaged(modules.baseDir)}; or a module reference such as ./my-node.ts:MyNode`))
    }
    const decoded: Array<DecodedNode> = []
    const specs: Array<IRDocument["nodes"][number]> = []
    for (const [i, written] of ir.nodes.entries()) {
      const kind = yield* resolveKind(written.kind, i)
      const node = source.toDocumentPath !== undefined ? authored(kind, written) : written
      specs.push(node)
      const result = kind.decode(node)
      if (Either.isLeft(result)) {
        const error = decodeError(source, result.left, ["nodes", i])
        const misplaced = misplacedConfigField(kind, result.left)
        if (misplaced === undefined) {
          // A package's kind of the same name never reaches the graph: the built-in or provided kind wins
          // (said only when the kind is one of those, not the package's own).
          const shadowed = table.has(node.kind) ? packageKinds(modules.baseDir).get(node.kind) : undefined
          const packages = shadowed?._tag === "Kind" ? [shadowed.kind.package] : shadowed?._tag === "Clash" ? shadowed.packages : []
          const which = builtinKinds.includes(kind) ? "built-in" : "provided"
          return yield* packages.length > 0
            ? new IRValidationError({
              ...error,
              message: `${error.message} (${packages.length > 1 ? "the packages" : "the package"} ${packages.join(", ")} also declare${packages.length > 1 ? "" : "s"} a kind named '${node.kind}', but the ${which} kind '${node.kind}' takes precedence)`,
              fix: `${error.fix}; or, to use the package's kind, rename it in ${packages[0]}'s package.json ("stargraph": {"nodes": …})`
            })
            : error
        }
        return yield* irError(source, ["nodes", i, misplaced], error.message, `move '${misplaced}' under config: (config: {${misplaced}: …}); a ${kind.name} node takes it there`)
      }
      decoded.push(result.right)
    }
    return { decoded, specs: source.toDocumentPath !== undefined ? specs as unknown as IRDocument["nodes"] : ir.nodes }
  })

/**
 * A node of a graph in the authoring format, where every key but `kind` (and a subgraph's
 * `spec`) is under `config`, as the original's kinds take them: the keys its kind takes
 * beside `config` (`values` of a `set` node, `module` and `export` of a `function` node)
 * moved there.
 */
const authored = (kind: NodeKind, node: IRDocument["nodes"][number]): IRDocument["nodes"][number] => {
  const config = node["config"]
  if (typeof config !== "object" || config === null || Array.isArray(config)) return node
  const beside = new Set(kind.fieldNames.filter((f) => !f.includes(".")).map((f) => f.replace(/\?$/, "")).filter((f) => f !== "config"))
  const entries = Object.entries(config as Record<string, unknown>)
  if (!entries.some(([key]) => beside.has(key))) return node
  const { config: _, ...rest } = node
  const under = entries.filter(([key]) => !beside.has(key))
  return { ...rest, ...Object.fromEntries(entries.filter(([key]) => beside.has(key))), ...(under.length > 0 ? { config: Object.fromEntries(under) } : {}) }
}

/** The field a node wrote beside `config` that its kind takes under `config` (the first issue's), if that is the problem. */
const misplacedConfigField = (kind: NodeKind, error: ParseResult.ParseError): string | undefined => {
  const first = firstIssue(error)
  if (first === undefined || first.path.length !== 1 || !first.message.includes("is unexpected")) return undefined
  const name = String(first.path[0])
  return kind.fieldNames.some((f) => f.replace(/\?/g, "") === `config.${name}`) ? name : undefined
}

/** The kinds packages declare, for the list of an unknown kind's fix. */
const packaged = (baseDir: string): string => {
  const names = [...packageKinds(baseDir)].flatMap(([name, d]) => (d._tag === "Kind" ? [`${name} (${d.kind.package})`] : []))
  return names.length > 0 ? `; from packages: ${listSome(names, 20)}` : ""
}

/** A package kind's module error, told in terms of the package's `package.json` entry. */
const packageModuleError = (error: GraphError, declared: PackageKind): GraphError => {
  if (error._tag !== "NodeModuleError" || (error.reason !== "module-not-found" && error.reason !== "outside-root")) return error
  const where = `${declared.package}'s package.json ("stargraph": {"nodes": {"${declared.name}": "${declared.target}"}})`
  return new NodeModuleError({
    nodeId: error.nodeId,
    module: error.module,
    exportName: error.exportName,
    reason: error.reason,
    message: error.reason === "module-not-found"
      ? `the package ${declared.package} declares the node kind '${declared.name}' in ${declared.target}, which does not exist (${declared.module})`
      : `the package ${declared.package} declares the node kind '${declared.name}' in ${declared.target}, outside the package's folder (${declared.dir})`,
    fix: error.reason === "module-not-found"
      ? `reinstall the package (is it built?), or correct the entry in ${where}`
      : `point the entry in ${where} at a file inside the package`
  })
}
