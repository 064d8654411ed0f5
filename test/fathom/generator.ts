/**
 * A seeded generator of random CLIPS programs and fact scripts for the differential
 * suite: random templates and ordered relations, rules with joins, not, exists, test,
 * or, not-and groups, salience, fact-address bindings and RHS asserts/retracts/modifies,
 * and scripts of asserts, retracts, runs, agenda listings and resets.
 */
import type { Case } from "./harness.js"

/** A small deterministic PRNG (mulberry32). */
export const rng = (seed: number): (() => number) => {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

type Domain = "sym" | "num"
interface SlotDef {
  readonly name: string
  readonly domain: Domain
  readonly multi: boolean
}
interface Tmpl {
  readonly name: string
  readonly slots: ReadonlyArray<SlotDef>
  readonly ordered: boolean
}

const SYMS = ["a", "b", "c"]
const NUMS = ["0", "1", "2", "3"]

/** Knobs for the shape of generated programs. */
export interface GenOptions {
  readonly rules?: number
  readonly steps?: number
  /** More CEs per rule and more groups, lists, return-value constraints and ors. */
  readonly heavy?: boolean
}

/** Generates one differential case from a seed. */
export const generateCase = (seed: number, options: GenOptions = {}): Case => {
  const r = rng(seed)
  const pick = <A>(xs: ReadonlyArray<A>): A => xs[Math.floor(r() * xs.length)]!
  const chance = (p: number): boolean => r() < p
  const int = (lo: number, hi: number): number => lo + Math.floor(r() * (hi - lo + 1))
  const value = (d: Domain): string => (d === "sym" ? pick(SYMS) : pick(NUMS))

  // Templates and ordered relations.
  const tmpls: Array<Tmpl> = []
  const nT = int(2, 3)
  for (let i = 0; i < nT; i++) {
    const slots: Array<SlotDef> = []
    const nS = int(1, 3)
    for (let k = 0; k < nS; k++) slots.push({ name: `s${k}`, domain: chance(0.5) ? "sym" : "num", multi: false })
    if (chance(0.25)) slots.push({ name: "m", domain: "sym", multi: true })
    tmpls.push({ name: `t${i}`, slots, ordered: false })
  }
  if (chance(0.6)) {
    const n = int(1, 2)
    const slots: Array<SlotDef> = []
    for (let k = 0; k < n; k++) slots.push({ name: `f${k}`, domain: chance(0.5) ? "sym" : "num", multi: false })
    tmpls.push({ name: "o0", slots, ordered: true })
  }
  // An ordered relation matched with multifield wildcards and variables.
  const lists = chance(0.5) ? ["lst"] : []
  const listPattern = (bound: ReadonlyArray<Var>, out: Array<Var>): string => {
    const syms = bound.filter((v) => v.domain === "sym")
    const elems: Array<string> = []
    const n = int(1, 4)
    for (let k = 0; k < n; k++) {
      const roll = r()
      if (roll < 0.35) elems.push(pick(["$?", "$?"]))
      else if (roll < 0.5) {
        const v = `$?w${varCounter++}`
        elems.push(v)
      } else if (roll < 0.7) elems.push(pick(SYMS))
      else if (roll < 0.8 && syms.length > 0) elems.push(pick(syms).name)
      else {
        const v = newVar()
        out.push({ name: v, domain: "sym" })
        elems.push(v)
      }
    }
    return `(lst ${elems.join(" ")})`
  }
  const lines: Array<string> = []
  for (const t of tmpls) {
    if (t.ordered) continue
    lines.push(`(deftemplate ${t.name} ${t.slots.map((s) => `(${s.multi ? "multislot" : "slot"} ${s.name}${s.domain === "num" && !s.multi ? " (default 0)" : ""})`).join(" ")})`)
  }

  // Rules.
  const nR = options.rules ?? int(3, 7)
  interface Var {
    readonly name: string
    readonly domain: Domain
  }
  let varCounter = 0
  const newVar = (): string => `?v${varCounter++}`

  /** A random pattern; `bound` are outer variables, `out` collects variables it binds. */
  const pattern = (bound: ReadonlyArray<Var>, out: Array<Var>, allowNewVars: boolean): string => {
    const t = pick(tmpls)
    const parts: Array<string> = []
    const local: Array<Var> = []
    const visible = (): Array<Var> => [...bound, ...local]
    const fieldFor = (d: Domain): string | null => {
      const roll = r()
      const same = visible().filter((v) => v.domain === d)
      if (roll < 0.3) return value(d)
      if (roll < 0.55 && same.length > 0) return pick(same).name
      if (roll < 0.75 && allowNewVars) {
        const v = newVar()
        local.push({ name: v, domain: d })
        return v
      }
      if (roll < 0.82) return options.heavy && chance(0.3) && same.length > 0 && d === "num" ? `=(+ ${pick(same).name} 1)` : `~${value(d)}`
      if (roll < 0.9 && allowNewVars) {
        const v = newVar()
        const cond = d === "num" ? (chance(0.5) && same.length > 0 ? `:(< ${v} ${pick(same).name})` : `:(> ${v} ${pick(["0", "1", "2"])})`) : `~${value(d)}`
        local.push({ name: v, domain: d })
        return `${v}&${cond}`
      }
      if (roll < 0.95) return `${value(d)}|${value(d)}`
      return null
    }
    if (t.ordered) {
      for (const s of t.slots) parts.push(fieldFor(s.domain) ?? "?")
      out.push(...local)
      return `(${t.name} ${parts.join(" ")})`
    }
    for (const s of t.slots) {
      if (s.multi) {
        const roll = r()
        if (roll < 0.25) parts.push(`(m $? ${pick(SYMS)} $?)`)
        else if (roll < 0.4) parts.push("(m)")
        else if (roll < 0.55 && allowNewVars) {
          const v = newVar()
          local.push({ name: v, domain: "sym" })
          parts.push(`(m ${v} $?)`)
        } else if (roll < 0.65) parts.push(`(m $? ${pick(SYMS)})`)
        continue
      }
      if (chance(0.3)) continue
      const f = fieldFor(s.domain)
      if (f !== null) parts.push(`(${s.name} ${f})`)
    }
    out.push(...local)
    return `(${t.name}${parts.length > 0 ? " " + parts.join(" ") : ""})`
  }

  const rules: Array<string> = []
  for (let i = 0; i < nR; i++) {
    const bound: Array<Var> = []
    const ces: Array<string> = []
    const factVars: Array<{ name: string; tmpl: Tmpl }> = []
    const nCE = options.heavy ? int(2, 6) : int(1, 4)
    for (let k = 0; k < nCE; k++) {
      const roll = options.heavy ? r() * 0.6 + 0.4 * r() * r() + (chance(0.3) ? 0.4 : 0) : r()
      if (roll < 0.55 || ces.length === 0) {
        const out: Array<Var> = []
        const p = pattern(bound, out, true)
        const tname = p.slice(1).split(/[ )]/)[0]!
        const tm = tmpls.find((t) => t.name === tname)!
        if (chance(0.3)) {
          const fv = `?f${i}_${k}`
          factVars.push({ name: fv, tmpl: tm })
          ces.push(`${fv} <- ${p}`)
        } else ces.push(p)
        bound.push(...out)
      } else if (roll < 0.72) ces.push(`(not ${pattern(bound, [], true)})`)
      else if (roll < 0.8) ces.push(`(exists ${pattern(bound, [], true)})`)
      else if (roll < 0.9) {
        const nums = bound.filter((v) => v.domain === "num")
        if (nums.length > 0 && chance(0.6)) ces.push(`(test (> ${pick(nums).name} ${pick(["0", "1", "2"])}))`)
        else if (bound.length >= 2) {
          const a = pick(bound)
          const same = bound.filter((v) => v.domain === a.domain && v !== a)
          ces.push(same.length > 0 ? `(test (neq ${a.name} ${pick(same).name}))` : `(test (eq 1 1))`)
        } else ces.push(`(test (> ${int(0, 3)} 1))`)
      } else if (roll < 0.93) {
        // a not/exists group, or a forall, whose inner patterns may bind and share variables
        const inner: Array<Var> = []
        const p1 = pattern(bound, inner, true)
        const p2 = pattern([...bound, ...inner], [], true)
        const kind = pick(["not", "not", "exists", "forall"])
        ces.push(kind === "forall" ? `(forall ${p1} ${p2})` : kind === "exists" ? `(exists ${p1} ${p2})` : `(not (and ${p1} ${p2}))`)
      } else if (roll < 0.96 && lists.length > 0) {
        const out: Array<Var> = []
        ces.push(listPattern(bound, out))
        bound.push(...out)
      } else ces.push(`(or ${pattern(bound, [], false)} ${pattern(bound, [], false)})`)
    }
    const salience = pick([0, 0, 0, 0, 1, -1, 5])
    const rhs: Array<string> = [`(printout t "r${i}"${bound.map((v) => ` " " ${v.name}`).join("")} crlf)`]
    if (chance(0.4)) {
      const t = pick(tmpls.filter((x) => !x.ordered).concat(tmpls))
      const vals = (s: SlotDef): string => {
        const same = bound.filter((v) => v.domain === s.domain)
        return same.length > 0 && chance(0.5) ? pick(same).name : value(s.domain)
      }
      if (t.ordered) rhs.push(`(assert (${t.name} ${t.slots.map(vals).join(" ")}))`)
      else rhs.push(`(assert (${t.name} ${t.slots.filter((s) => !s.multi && chance(0.8)).map((s) => `(${s.name} ${vals(s)})`).join(" ")}))`)
    }
    if (factVars.length > 0 && chance(0.35)) {
      const fv = pick(factVars)
      const single = fv.tmpl.slots.filter((s) => !s.multi)
      if (!fv.tmpl.ordered && single.length > 0 && chance(0.4)) {
        const s = pick(single)
        rhs.push(`(modify ${fv.name} (${s.name} ${value(s.domain)}))`)
      } else rhs.push(`(retract ${fv.name})`)
    }
    rules.push(`(defrule r${i} ${salience !== 0 ? `(declare (salience ${salience})) ` : ""}${ces.join(" ")} => ${rhs.join(" ")})`)
  }
  lines.push(...rules)

  // Script.
  const randomFact = (): string => {
    if (lists.length > 0 && chance(0.25)) return `(lst${Array.from({ length: int(0, 4) }, () => " " + pick(SYMS)).join("")})`
    const t = pick(tmpls)
    if (t.ordered) return `(${t.name} ${t.slots.map((s) => value(s.domain)).join(" ")})`
    const parts = t.slots
      .filter(() => chance(0.85))
      .map((s) => (s.multi ? `(m${Array.from({ length: int(0, 3) }, () => " " + pick(SYMS)).join("")})` : `(${s.name} ${value(s.domain)})`))
    return `(${t.name}${parts.length > 0 ? " " + parts.join(" ") : ""})`
  }
  const script: Array<string> = []
  const steps = options.steps ?? int(3, 8)
  let maxId = 0
  for (let s = 0; s < steps; s++) {
    const roll = r()
    if (roll < 0.45) {
      const n = int(1, 4)
      script.push(`(assert ${Array.from({ length: n }, randomFact).join(" ")})`)
      maxId += n
    } else if (roll < 0.62 && maxId > 0) script.push(`(retract ${int(1, maxId + 3)})`)
    else if (roll < 0.7) script.push("(agenda)")
    else if (roll < 0.73) {
      script.push("(reset)")
      maxId = 0
    } else script.push("(run 40)")
    if (maxId > 0) maxId += 2
  }
  script.push("(run 40)")
  return { name: `random-${seed}`, constructs: lines.join("\n"), script: script.join("\n") }
}
