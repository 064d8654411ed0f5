/**
 * How a node names a tool, and how the name resolves when the graph is built: a registry
 * id (`std.calculator@1`, or `std.calculator` for its highest version, from the
 * `ToolRegistry`), or an export of a module beside the graph (`./tools.ts:lookup`,
 * optionally pinned `./tools.ts:lookup@2`). Shared by the `tool` and `react` kinds.
 */
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import type { GraphError } from "../../errors.js"
import type { CompileContext, ModuleRef, NodeProblem } from "../NodeKind.js"
import { isTool, problemOf, type Tool } from "./Tool.js"
import { ToolRegistry } from "./ToolRegistry.js"

/** A tool named by a module export. */
export interface ToolModuleRef {
  readonly module: string
  readonly exportName: string
  /** The version pinned with `@`, when one is. */
  readonly version?: string
}

/**
 * `./tools.ts:lookup@2` (or `#lookup`) → the module, export and pinned version;
 * `undefined` for a registry id (ids have no `:` or `#`).
 */
export const moduleRef = (tool: string): ToolModuleRef | undefined => {
  const cut = Math.max(tool.lastIndexOf(":"), tool.lastIndexOf("#"))
  if (cut <= 0) return undefined
  const module = tool.slice(0, cut)
  const exportName = tool.slice(cut + 1)
  const at = exportName.lastIndexOf("@")
  return at > 0 ? { module, exportName: exportName.slice(0, at), version: exportName.slice(at + 1) } : { module, exportName }
}

/** Whether a module reference is a path (`./x.ts`, `/abs/x.mjs`), not a Python dotted module (as for kinds). */
export const isPathRef = (ref: { readonly module: string }): boolean => /^(\.{1,2}\/|\/)/.test(ref.module) || /\.(m|c)?(t|j)sx?$/.test(ref.module)

/** The module a tool name loads, if it names one (for a kind's `modules`). */
export const toolModules = (tool: string): ReadonlyArray<ModuleRef> => {
  const ref = moduleRef(tool)
  return ref !== undefined && isPathRef(ref) ? [{ module: ref.module, exportName: ref.exportName }] : []
}

/** A tool name that is a Python module reference (the original's `pkg.mod:tool`), refused at `path`. */
export const pythonRefProblem = (tool: string, path: ReadonlyArray<PropertyKey>): NodeProblem | undefined => {
  const ref = moduleRef(tool)
  return ref !== undefined && !isPathRef(ref)
    ? { path, message: `'${tool}' is a Python module reference; this runtime loads JavaScript and TypeScript modules`, fix: `export a tool made with Tool.make from a module beside the graph and write "./tools.ts:${ref.exportName}"` }
    : undefined
}

/** The tool `name` names (its module loaded by the kind's `modules`), or an `IRValidationError` at `path`. */
export const resolveTool = (name: string, path: ReadonlyArray<PropertyKey>, ctx: CompileContext): Effect.Effect<Tool, GraphError> =>
  Effect.gen(function*() {
    const ref = moduleRef(name)
    if (ref === undefined) {
      const registry = yield* ToolRegistry
      const resolved = registry.resolve(name)
      if (Either.isLeft(resolved)) return yield* ctx.invalid(path, resolved.left.message, resolved.left.fix)
      return resolved.right
    }
    const value = yield* ctx.exported({ module: ref.module, exportName: ref.exportName }, "reference")
    if (!isTool(value)) {
      return yield* ctx.invalid(path, `export '${ref.exportName}' of '${ref.module}' is not a tool`, "export a tool made with Tool.make({id, version, description, input, output, run}) under that name")
    }
    const problem = problemOf(value)
    if (problem !== undefined) return yield* ctx.invalid(path, problem, "fix the tool's id or version in its Tool.make call")
    if (ref.version !== undefined && ref.version !== value.version) {
      return yield* ctx.invalid(path, `'${name}' asks for version ${ref.version}, but the module exports ${value.key}`, `write "${ref.module}:${ref.exportName}@${value.version}" or update the module`)
    }
    return value
  })
