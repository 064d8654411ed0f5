/**
 * Decoding a graph's nodes: each node's `kind` is looked up (built-ins, kinds provided as
 * a Layer, kinds declared by packages, or a module reference) and the kind decodes the
 * node's own fields, so an unknown field or a bad value is an IR error at its path.
 */
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as ParseResult from "effect/ParseResult"
import type { GraphError, NodeModuleError } from "../errors.js"
import { listSome } from "../ir/limits.js"
import { decodeError, irError, type IRSource } from "../ir/parse.js"
import type { IRDocument } from "../ir/schema.js"
import type { ModuleNamespace } from "../nodes/loader.js"
import { pickExport } from "../nodes/loader.js"
import type { DecodedNode, NodeKind } from "../nodes/NodeKind.js"
import { guardKind } from "../nodes/guardKind.js"
import { builtinKinds } from "../nodes/kinds/index.js"
import { fromExport, isPathRef, kindTable, NodeKinds, packageKinds, parseKindRef, projectRoot } from "../nodes/NodeKinds.js"

/** Node kinds of the original Stargraph that this runtime does not have, with what to write instead. */
const UNPORTED_KINDS: { readonly [kind: string]: { readonly why: string; readonly fix: string } } = {
  react: {
    why: "a tool-calling agent loop",
    fix: "build the loop from a dspy node that picks a tool and tool nodes, routed by rules back to it until it answers (docs/nodes.md), or write a module node (./my-node.ts:MyNode)"
  },
  code: { why: "it runs Python code", fix: "write the code as a function node in a .ts module beside the graph (kind: function, module: ./nodes.ts, export: …)" },
  rag: { why: "retrieval stores are not ported", fix: "call your store from a function node's ctx.call, or a tool registered with Tool.make (docs/tools.md)" },
  broker: { why: "the Nautilus broker is not ported", fix: "call the broker from a function node's ctx.call, or a tool registered with Tool.make (docs/tools.md)" }
}

/** How {@link decodeNodes} loads the modules of module-referenced and package kinds. */
export interface KindModules {
  readonly baseDir: string
  readonly resolveModule: (ref: { nodeId: string; module: string; exportName: string }, roots?: ReadonlyArray<string>) => Effect.Effect<ModuleNamespace, NodeModuleError>
}

/** Decode every node of `ir` with its kind. */
export const decodeNodes = (ir: IRDocument, source: IRSource, modules: KindModules): Effect.Effect<ReadonlyArray<DecodedNode>, GraphError> =>
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
      if (ref !== undefined) {
        if (!isPathRef(ref)) {
          return Effect.fail(irError(source, at, `'${name}' is a Python module reference; this runtime loads JavaScript and TypeScript modules`,
            `port the node to a module beside the graph and write kind: "./path/to/module.ts:${ref.exportName}" (exporting a NodeKind, a class with execute(state, ctx), or a function)`))
        }
        const full = { nodeId, module: ref.module, exportName: ref.exportName }
        return Effect.flatMap(modules.resolveModule(full), (ns) => Effect.flatMap(pickExport(ns, full, "reference"), (value) => fromExport(value, name, full))).pipe(
          Effect.map((kind) => guardKind(kind, `exported as ${ref.exportName} by ${ref.module}`)),
          Effect.tap((kind) => Effect.sync(() => byModule.set(name, kind)))
        )
      }
      const root = projectRoot(modules.baseDir)
      const declared = root === undefined ? undefined : packageKinds(root).get(name)
      if (declared !== undefined) {
        const full = { nodeId, module: declared.module, exportName: declared.exportName }
        return Effect.flatMap(modules.resolveModule(full, [declared.dir]), (ns) => Effect.flatMap(pickExport(ns, full, "package"), (value) => fromExport(value, name, full))).pipe(
          Effect.map((kind) => guardKind(kind, `declared by the package ${declared.package}`)),
          Effect.tap((kind) => Effect.sync(() => byModule.set(name, kind)))
        )
      }
      const original = UNPORTED_KINDS[name]
      return Effect.fail(irError(source, at, original !== undefined ? `the original's '${name}' kind is not part of this runtime (${original.why})` : `unknown node kind '${name}'`,
        original !== undefined ? original.fix : `use one of: ${listSome(table.keys(), 40)}; or a module reference such as ./my-node.ts:MyNode`))
    }
    const decoded: Array<DecodedNode> = []
    for (const [i, node] of ir.nodes.entries()) {
      const kind = yield* resolveKind(node.kind, i)
      const result = kind.decode(node)
      if (Either.isLeft(result)) {
        const error = decodeError(source, result.left, ["nodes", i])
        const misplaced = misplacedConfigField(kind, result.left)
        return yield* misplaced === undefined ? error : irError(source, ["nodes", i, misplaced], error.message, `move '${misplaced}' under config: (config: {${misplaced}: …}); a ${kind.name} node takes it there`)
      }
      decoded.push(result.right)
    }
    return decoded
  })

/** The field a node wrote beside `config` that its kind takes under `config` (the first issue's), if that is the problem. */
const misplacedConfigField = (kind: NodeKind, error: ParseResult.ParseError): string | undefined => {
  const first = ParseResult.ArrayFormatter.formatErrorSync(error)[0]
  if (first === undefined || first.path.length !== 1 || !first.message.includes("is unexpected")) return undefined
  const name = String(first.path[0])
  return kind.fieldNames.some((f) => f.replace(/\?/g, "") === `config.${name}`) ? name : undefined
}
