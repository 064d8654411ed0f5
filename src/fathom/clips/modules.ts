/**
 * Defmodules: each module owns its templates (and, in each engine, an agenda, found by
 * the module's `id`); templates of other modules are visible through `(import M ?ALL)` /
 * `(import M deftemplate ...)` when M exports them.
 */
import type { PortSpec } from "./constructs.js"
import type { Template } from "./templates.js"

/** A module of a compiled program. */
export class Module {
  readonly templates = new Map<string, Template>()
  imports: ReadonlyArray<PortSpec> = []
  exports: ReadonlyArray<PortSpec> = []
  constructor(
    readonly name: string,
    /** Index of the module's agenda in an engine. */
    readonly id: number
  ) {}

  /** True when this module exports the template `name`. */
  exportsTemplate(name: string): boolean {
    return this.exports.some((p) => {
      if (p.constructKind !== undefined && p.constructKind !== "deftemplate") return false
      if (p.names === "all") return true
      if (p.names === "none") return false
      return p.names.includes(name)
    })
  }
}

/** Finds the template `name` visible from `from` (own first, then imports in order). */
export const visibleTemplate = (modules: ReadonlyMap<string, Module>, from: Module, name: string, seen: Set<string> = new Set()): Template | undefined => {
  const sep = name.indexOf("::")
  if (sep > 0) {
    const m = modules.get(name.slice(0, sep))
    return m?.templates.get(name.slice(sep + 2))
  }
  const own = from.templates.get(name)
  if (own !== undefined) return own
  seen.add(from.name)
  for (const imp of from.imports) {
    if (imp.module === undefined || seen.has(imp.module)) continue
    if (imp.constructKind !== undefined && imp.constructKind !== "deftemplate") continue
    if (imp.names === "none") continue
    if (imp.names !== "all" && !imp.names.includes(name)) continue
    const m = modules.get(imp.module)
    if (m === undefined) continue
    const t = m.templates.get(name)
    if (t !== undefined && m.exportsTemplate(name)) return t
    const deeper = visibleTemplate(modules, m, name, seen)
    if (deeper !== undefined && m.exportsTemplate(name)) return deeper
  }
  return undefined
}
