/**
 * Differential harness: runs the same program (constructs + a script of top-level
 * commands) through the real CLIPS 6.30 binary and through our engine, producing the
 * `(watch facts)(watch rules)` trace, printout output and the final `(facts)` listing as
 * text for comparison. Many programs share one CLIPS process (separated by `(clear)`).
 */
import { execFileSync } from "node:child_process"
import { existsSync, mkdtempSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as Either from "effect/Either"
import { compile, makeEngine, parseProgram, renderFact, type Engine, type Value } from "../../src/fathom/clips/index.js"
import { readAll, type SExpr } from "../../src/fathom/clips/reader.js"
import { atomValue } from "../../src/fathom/clips/expressions.js"
import { multifield } from "../../src/fathom/clips/values.js"
import { padRight } from "../../src/fathom/clips/printer.js"

/** Path of the CLIPS binary used as the oracle. */
export const CLIPS_BINARY = "/usr/bin/clips"

/** True when the oracle is installed. */
export const clipsAvailable = (): boolean => existsSync(CLIPS_BINARY)

/** One differential case. */
export interface Case {
  readonly name: string
  /** Constructs (deftemplate, defrule, ...). */
  readonly constructs: string
  /** Top-level commands run after `(reset)` with facts and rules watched. */
  readonly script: string
  /** Extra watch items for this case. */
  readonly watch?: ReadonlyArray<"activations">
}

const MARK = "@@@"

/** Splits a `.clp` fixture at its `;;; script` line into constructs and script. */
export const splitFixture = (name: string, text: string): Case => {
  const idx = text.search(/^;;;\s*script\s*$/m)
  if (idx < 0) return { name, constructs: text, script: "(run)" }
  return { name, constructs: text.slice(0, idx), script: text.slice(idx).replace(/^;;;\s*script\s*$/m, "") }
}

/** Runs every case through CLIPS in one process; returns the trace text per case name. */
export const runClips = (cases: ReadonlyArray<Case>): Map<string, string> => {
  const parts: Array<string> = []
  for (const c of cases) {
    parts.push("(unwatch all)", "(clear)", c.constructs, "(reset)", `(printout t "${MARK}BEGIN ${c.name}" crlf)`, "(watch facts)", "(watch rules)")
    if (c.watch?.includes("activations")) parts.push("(watch activations)")
    parts.push(c.script, "(facts)", "(unwatch all)", `(printout t "${MARK}END ${c.name}" crlf)`)
  }
  parts.push("(exit)")
  const dir = mkdtempSync(join(tmpdir(), "fathom-diff-"))
  const file = join(dir, "batch.clp")
  writeFileSync(file, parts.join("\n") + "\n")
  const out = execFileSync(CLIPS_BINARY, ["-f2", file], { input: "", encoding: "utf8", maxBuffer: 256 * 1024 * 1024 })
  const result = new Map<string, string>()
  let pre = ""
  let current: string | null = null
  let buf: Array<string> = []
  for (const line of out.split("\n")) {
    if (line.startsWith(`${MARK}BEGIN `)) {
      current = line.slice(MARK.length + 6)
      buf = pre.trim() === "" ? [] : [`[load] ${pre.trim()}`]
      pre = ""
      continue
    }
    if (line.startsWith(`${MARK}END `)) {
      if (current !== null) result.set(current, buf.join("\n") + "\n")
      current = null
      continue
    }
    if (current === null) pre += line.trim() === "" ? "" : line + "\n"
    else buf.push(line)
  }
  return result
}

/** Renders a read form back to CLIPS text. */
export const toText = (e: SExpr): string => {
  if (e.kind === "list") return `(${e.items.map(toText).join(" ")})`
  const t = e.token
  switch (t.kind) {
    case "string":
      return `"${t.text.replace(/\\/g, "\\\\").replace(/"/g, '\\"')}"`
    case "sfvar":
      return `?${t.text}`
    case "mfvar":
      return `$?${t.text}`
    case "gvar":
      return `?*${t.text}*`
    default:
      return t.text
  }
}

/** The `(facts)` listing as CLIPS prints it. */
export const factsListing = (engine: Engine): string => {
  // (facts) lists the facts visible from the current module (MAIN here).
  const facts = engine.facts().filter((f) => f.module === "MAIN")
  let s = ""
  for (const f of facts) s += `f-${padRight(String(f.id), 5)} ${renderFact(f)}\n`
  s += `For a total of ${facts.length} fact${facts.length === 1 ? "" : "s"}.\n`
  return s
}

const agendaListing = (engine: Engine): string => {
  const acts = engine.agenda()
  let s = ""
  for (const a of acts) s += `${padRight(String(a.salience), 6)} ${a.rule.replace(/^.*::/, "")}: ${a.factIds.map((x) => (x === null ? "*" : `f-${x}`)).join(",")}\n`
  if (acts.length > 0) s += `For a total of ${acts.length} activation${acts.length === 1 ? "" : "s"}.\n`
  return s
}

const constant = (e: SExpr): Value => {
  if (e.kind !== "atom") throw new Error(`harness: expected a constant, got ${toText(e)}`)
  const v = atomValue(e)
  if (v === null) throw new Error(`harness: expected a constant, got ${toText(e)}`)
  return v
}

/**
 * Runs a case through our engine and returns the same kind of trace CLIPS prints. With
 * `via: "compile"` the engine comes from `compile(program).instantiate()` (a second
 * instance of the same compiled program first runs the case too, so instances sharing a
 * network are exercised) instead of `makeEngine()` + `load`.
 */
export const runOurs = (c: Case, setup?: (engine: Engine) => void, via: "load" | "compile" = "load"): string => {
  const program = parseProgram(c.constructs, { file: c.name })
  if (Either.isLeft(program)) return `[load] ${program.left.message} (line ${program.left.line})\n`
  let engine: Engine
  if (via === "compile") {
    const compiled = compile(program.right)
    if (Either.isLeft(compiled)) return `[load] ${compiled.left.message} (line ${compiled.left.line})\n`
    const other = compiled.right.instantiate()
    setup?.(other)
    other.reset()
    runScript(other, c.script)
    engine = compiled.right.instantiate()
    setup?.(engine)
  } else {
    engine = makeEngine()
    setup?.(engine)
    const loaded = engine.load(program.right)
    if (Either.isLeft(loaded)) return `[load] ${loaded.left.message} (line ${loaded.left.line})\n`
  }
  engine.reset()
  engine.output()
  engine.watch("facts", true)
  engine.watch("rules", true)
  if (c.watch?.includes("activations")) engine.watch("activations", true)
  return runScript(engine, c.script) + factsListing(engine)
}

/** The top-level commands of a script, one read form each. */
export const scriptCommands = (script: string): Array<SExpr> => {
  const { forms, error } = readAll(script)
  if (error !== undefined) throw new Error(`harness: ${error.message}`)
  return forms
}

/** Runs script commands against an engine and returns the trace they produce. */
export const runScript = (engine: Engine, script: string | ReadonlyArray<SExpr>): string => {
  let out = ""
  const forms = typeof script === "string" ? scriptCommands(script) : script
  for (const form of forms) {
    if (form.kind !== "list" || form.items[0]?.kind !== "atom") throw new Error(`harness: bad command ${toText(form)}`)
    const cmd = form.items[0].token.text
    const args = form.items.slice(1)
    switch (cmd) {
      case "reset":
        engine.reset()
        break
      case "run": {
        const n = args[0] === undefined ? undefined : (constant(args[0]) as { value: number }).value
        const r = engine.run(n)
        if (Either.isLeft(r)) out += engine.output() + `[error] ${r.left.reason}: ${r.left.message}\n`
        // CLIPS 6.30 prints this when the remaining limit equals the firings (its own quirk).
        else if (n !== undefined && n - r.right.firings.length === r.right.firings.length) out += engine.output() + "rule firing limit reached\n"
        break
      }
      case "assert":
        for (const a of args) {
          const r = engine.assertString(toText(a))
          if (Either.isLeft(r)) out += engine.output() + `[error] ${r.left.reason}: ${r.left.message}\n`
        }
        break
      case "retract":
        for (const a of args) {
          const id = (constant(a) as { value: number }).value
          if (!engine.retract(id)) out += engine.output() + `[PRNTUTIL1] Unable to find fact f-${id}.\n`
        }
        break
      case "modify":
      case "duplicate": {
        const id = (constant(args[0]!) as { value: number }).value
        const slots: Record<string, Value> = {}
        for (const s of args.slice(1)) {
          if (s.kind !== "list" || s.items[0]?.kind !== "atom") throw new Error("harness: bad slot change")
          const vals = s.items.slice(1).map(constant)
          slots[s.items[0].token.text] = vals.length === 1 ? vals[0]! : multifield(vals)
        }
        if (cmd === "modify") {
          const r = engine.modify(id, slots)
          if (Either.isLeft(r)) out += engine.output() + `[error] ${r.left.reason}: ${r.left.message}\n`
        } else {
          const f = engine.fact(id)
          if (f !== undefined) {
            const merged: Record<string, Value> = Object.fromEntries(f.slots.map(([k, v]) => [k, v]))
            Object.assign(merged, slots)
            engine.assertFact(f.template, merged)
          }
        }
        break
      }
      case "facts":
        out += engine.output() + factsListing(engine)
        break
      case "agenda":
        out += engine.output() + agendaListing(engine)
        break
      case "watch":
      case "unwatch":
        for (const a of args) engine.watch(toText(a) as "facts", cmd === "watch")
        break
      case "printout":
        out += engine.output() + args.slice(1).map((a) => (a.kind === "atom" && a.token.text === "crlf" && a.token.kind === "symbol" ? "\n" : a.kind === "atom" && (a.token.kind === "string" || a.token.kind === "symbol") ? a.token.text : toText(a))).join("")
        break
      default:
        throw new Error(`harness: unsupported command ${cmd}`)
    }
  }
  return out + engine.output()
}

/** A readable line diff of two traces (first differing line with context). */
export const diffText = (expected: string, actual: string): string => {
  const a = expected.split("\n")
  const b = actual.split("\n")
  let i = 0
  while (i < a.length && i < b.length && a[i] === b[i]) i++
  const from = Math.max(0, i - 3)
  const ctx = (xs: Array<string>) => xs.slice(from, i + 4).map((l, k) => `${from + k === i ? ">" : " "} ${l}`).join("\n")
  return `first difference at line ${i + 1}\n--- clips\n${ctx(a)}\n--- ours\n${ctx(b)}`
}
