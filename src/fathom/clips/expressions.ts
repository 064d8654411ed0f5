/**
 * Compiling expressions (read s-expressions) into closures: function calls, variables,
 * constants, and the special forms of rule actions and deffunctions (if, while, bind,
 * progn, switch, loop-for-count, foreach, assert, retract, modify, duplicate, printout,
 * halt, focus, return, break). Every compiled expression also gets a canonical key, used
 * to decide whether two rules' tests are identical (join sharing).
 */
import { fail, type Pos } from "./diagnostics.js"
import { EvalError, type Compiled, type Env, type ErrorSite } from "./evaluation.js"
import { catText, SPECIAL_FORMS, type FunctionDef } from "./functions.js"
import { renderPrintout } from "./printer.js"
import type { SAtom, SExpr, SList } from "./reader.js"
import { checkSlot, describeViolation, deriveDefault, type Fact, type Slot, type Template } from "./templates.js"
import { EMPTY, factAddress, FALSE, float, int, isTrue, multifield, NIL, pushFlat, str, sym, TRUE, type Value } from "./values.js"

/** A compiled expression with its identity key. */
export interface CompiledExpr {
  readonly fn: Compiled
  readonly key: string
}

/** Where compile errors are reported. */
export interface CompileSite {
  readonly file?: string | undefined
  readonly construct?: string | undefined
}

/** How variables resolve and what is allowed in a compilation context. */
export interface Scope {
  readonly site: CompileSite
  /** Resolves a bound variable (?x or $?x), or returns null when unbound. */
  resolve(name: string, pos: Pos): CompiledExpr | null
  /** Creates or finds a local for `bind`; null when bind is not allowed here. */
  bindLocal(name: string): number | null
  /** True in rule actions and deffunction bodies. */
  readonly actions: boolean
  readonly functions: ReadonlyMap<string, FunctionDef>
  /** User deffunctions (called with a fresh frame). */
  readonly deffunctions: ReadonlyMap<string, DeffunctionRef>
  /** Template lookup by name (visible from the current module). */
  template(name: string): Template | undefined
  /** Creates (or returns) the implied template of an ordered relation. */
  impliedTemplate(name: string, pos: Pos): Template
  /** True when a module of that name exists. */
  moduleExists(name: string): boolean
  /** True when a global variable exists. */
  globalExists(name: string): boolean
}

/** A deffunction as callable from compiled code. */
export interface DeffunctionRef {
  readonly name: string
  /** The module it was defined in (deffunctions share one namespace; see the rule base). */
  readonly module?: string | undefined
  readonly params: number
  readonly rest: boolean
  /** Filled in after the body compiles (allows recursion). */
  body: Compiled | null
  frameSize: number
}

const posOf = (e: SExpr): Pos => ({ line: e.line, column: e.column })

const cerr = (scope: Scope, at: SExpr | Pos, reason: "compile" | "unbound-variable" | "unknown-template" | "type", message: string, fix: string): never =>
  fail(reason, message, fix, { file: scope.site.file, pos: "kind" in at ? posOf(at) : at, construct: scope.site.construct })

const siteOf = (scope: Scope, e: SExpr): ErrorSite => ({ file: scope.site.file, line: e.line, column: e.column, construct: scope.site.construct })

/** Converts a constant token to a value (null when the atom is not a constant). */
export const atomValue = (a: SAtom): Value | null => {
  switch (a.token.kind) {
    case "symbol":
      return sym(a.token.text)
    case "string":
      return str(a.token.text)
    case "integer":
      return int(a.token.num!)
    case "float":
      return float(a.token.num!)
    default:
      return null
  }
}

/** The canonical key of a constant. */
export const constKey = (v: Value): string => {
  switch (v.type) {
    case "SYMBOL":
      return `y:${v.value}`
    case "STRING":
      return `s:${JSON.stringify(v.value)}`
    case "INTEGER":
      return `i:${v.value}`
    case "FLOAT":
      return `f:${v.value}`
    case "FACT-ADDRESS":
      return `a:${v.value}`
    case "MULTIFIELD":
      return `m:[${v.value.map(constKey).join(",")}]`
  }
}

const constant = (v: Value): CompiledExpr => ({ fn: () => v, key: constKey(v) })

const isSym = (e: SExpr | undefined, text?: string): e is SAtom =>
  e !== undefined && e.kind === "atom" && e.token.kind === "symbol" && (text === undefined || e.token.text === text)

/** Built-in functions whose every argument is a number (or an integer), checked when a literal is passed. */
const NUMERIC_ARGUMENTS: ReadonlyMap<string, "number" | "integer"> = new Map([
  ...["+", "-", "*", "/", "div", "mod", "**", "abs", "min", "max", "=", "<>", "<", ">", "<=", ">=", "integer", "float", "sqrt", "round"].map((f) => [f, "number"] as const),
  ...["evenp", "oddp"].map((f) => [f, "integer"] as const)
])

/** Compiles one expression. */
export const compileExpr = (e: SExpr, scope: Scope): CompiledExpr => {
  if (e.kind === "atom") {
    const t = e.token
    switch (t.kind) {
      case "sfvar":
      case "mfvar": {
        const r = scope.resolve(t.text, posOf(e))
        if (r === null) return cerr(scope, e, "unbound-variable", `variable ?${t.text} is not bound`, `bind ?${t.text} in a pattern on the left-hand side or with (bind ?${t.text} ...) before using it`)
        return r
      }
      case "gvar": {
        if (!scope.globalExists(t.text)) return cerr(scope, e, "unbound-variable", `global variable ?*${t.text}* is not defined`, `define it with (defglobal ?*${t.text}* = ...)`)
        const name = t.text
        const site = siteOf(scope, e)
        return {
          fn: (env) => {
            const v = env.host.globals.get(name)
            if (v === undefined) throw new EvalError(`global variable ?*${name}* is not defined`, "define it with defglobal", site)
            return v
          },
          key: `g:${name}`
        }
      }
      case "sfwild":
      case "mfwild":
      case "and":
      case "or":
      case "not":
        return cerr(scope, e, "compile", `unexpected ${t.text} in an expression`, "wildcards and connectives belong in patterns")
      default: {
        const v = atomValue(e)
        if (v === null) return cerr(scope, e, "compile", `unexpected token ${t.text}`, "check the syntax")
        return constant(v)
      }
    }
  }
  return compileCall(e, scope)
}

const compileArgs = (items: ReadonlyArray<SExpr>, scope: Scope): Array<CompiledExpr> => items.map((a) => compileExpr(a, scope))

const seqKey = (name: string, args: ReadonlyArray<CompiledExpr>): string => `(${name} ${args.map((a) => a.key).join(" ")})`

/** Runs a sequence of actions; stops early on return/break. */
const sequence = (actions: ReadonlyArray<Compiled>): Compiled => {
  if (actions.length === 1) return actions[0]!
  return (env) => {
    let last: Value = FALSE
    for (let k = 0; k < actions.length; k++) {
      last = actions[k]!(env)
      if (env.returning || env.breaking) return last
    }
    return last
  }
}

const compileCall = (e: SList, scope: Scope): CompiledExpr => {
  const head = e.items[0]
  if (head === undefined) return cerr(scope, e, "compile", "empty expression ()", "call a function: (name args...)")
  if (!isSym(head)) return cerr(scope, head, "compile", "a function call must start with the function name", "write (name args...)")
  const name = head.token.text
  const rest = e.items.slice(1)
  if (SPECIAL_FORMS.has(name)) return compileSpecial(name, e, rest, scope)
  const df = scope.deffunctions.get(name)
  if (df !== undefined) {
    if (rest.length < df.params || (!df.rest && rest.length > df.params)) {
      return cerr(scope, e, "compile", `deffunction ${name} expects ${df.rest ? "at least " : ""}${df.params} argument(s), got ${rest.length}`, "pass the right number of arguments")
    }
    const args = compileArgs(rest, scope)
    const fns = args.map((a) => a.fn)
    const site = siteOf(scope, e)
    return {
      key: seqKey(`deffunction:${name}`, args),
      fn: (env) => {
        const vals = fns.map((f) => f(env))
        const body = df.body
        if (body === null) throw new EvalError(`deffunction ${name} is not compiled`, "define it before use", site)
        const frame: Array<Value> = new Array<Value>(df.frameSize).fill(NIL)
        for (let k = 0; k < df.params; k++) frame[k] = vals[k]!
        if (df.rest) {
          const tail: Array<Value> = []
          for (const v of vals.slice(df.params)) pushFlat(tail, v)
          frame[df.params] = multifield(tail)
        }
        const sub: Env = { lhs: null, rhs: null, frame, fact: null, markers: null, host: env.host, returning: false, breaking: false, inFunction: true }
        return body(sub)
      }
    }
  }
  const fd = scope.functions.get(name)
  if (fd === undefined) return cerr(scope, head, "compile", `unknown function ${name}`, "define it with deffunction, register it with registerFunction, or check the spelling")
  if (rest.length < fd.min || rest.length > fd.max) {
    const want = fd.min === fd.max ? `exactly ${fd.min}` : fd.max === Infinity ? `at least ${fd.min}` : `${fd.min} to ${fd.max}`
    return cerr(scope, e, "compile", `function ${name} expects ${want} argument(s), got ${rest.length}`, `call (${name} ...) with ${want} argument(s)`)
  }
  // A literal argument of the wrong type can only fail: refused at load, as CLIPS does ([ARGACCES5]).
  const wants = NUMERIC_ARGUMENTS.get(name)
  if (wants !== undefined) {
    for (const [k, arg] of rest.entries()) {
      if (arg.kind !== "atom") continue
      const kind = arg.token.kind
      const fits = wants === "integer" ? kind === "integer" : kind === "integer" || kind === "float"
      if (!fits && (kind === "symbol" || kind === "string" || kind === "integer" || kind === "float")) {
        return cerr(scope, arg, "type", `function ${name} expected argument #${k + 1} to be of type ${wants === "integer" ? "integer" : "integer or float"}, got ${kind === "string" ? JSON.stringify(arg.token.text) : arg.token.text}`, `pass a number${wants === "integer" ? " (an integer)" : ""}, or compare text with eq, str-compare`)
      }
    }
  }
  const args = compileArgs(rest, scope)
  const site = siteOf(scope, e)
  const impl = fd.impl
  const n = args.length
  const key = seqKey(name, args)
  if (n === 1) {
    const a0 = args[0]!.fn
    return { key, fn: (env) => impl([a0(env)], env, site) }
  }
  if (n === 2) {
    const a0 = args[0]!.fn
    const a1 = args[1]!.fn
    const impl2 = fd.impl2
    if (impl2 !== undefined) return { key, fn: (env) => impl2(a0(env), a1(env), env, site) }
    return { key, fn: (env) => impl([a0(env), a1(env)], env, site) }
  }
  const fns = args.map((a) => a.fn)
  return { key, fn: (env) => impl(fns.map((f) => f(env)), env, site) }
}

const requireActions = (scope: Scope, e: SExpr, name: string): void => {
  if (!scope.actions) cerr(scope, e, "compile", `${name} is not allowed here`, `use ${name} in a rule's actions or a deffunction`)
}

const compileBody = (items: ReadonlyArray<SExpr>, scope: Scope): Compiled => {
  if (items.length === 0) return () => FALSE
  return sequence(items.map((a) => compileExpr(a, scope).fn))
}

const compileSpecial = (name: string, e: SList, rest: ReadonlyArray<SExpr>, scope: Scope): CompiledExpr => {
  const site = siteOf(scope, e)
  switch (name) {
    case "and":
    case "or": {
      if (rest.length < 2) return cerr(scope, e, "compile", `function ${name} expects at least 2 argument(s)`, `give ${name} two or more arguments`)
      const args = compileArgs(rest, scope)
      const fns = args.map((a) => a.fn)
      const isAnd = name === "and"
      return {
        key: seqKey(name, args),
        fn: (env) => {
          for (const f of fns) {
            const t = isTrue(f(env))
            if (isAnd && !t) return FALSE
            if (!isAnd && t) return TRUE
          }
          return isAnd ? TRUE : FALSE
        }
      }
    }
    case "bind": {
      const v = rest[0]
      if (v === undefined || v.kind !== "atom" || (v.token.kind !== "sfvar" && v.token.kind !== "mfvar" && v.token.kind !== "gvar")) {
        return cerr(scope, e, "compile", "bind expects a variable and a value", "write (bind ?x <value>)")
      }
      const valueArgs = compileArgs(rest.slice(1), scope)
      const vfns = valueArgs.map((a) => a.fn)
      const compute: Compiled =
        vfns.length === 0
          ? () => EMPTY
          : vfns.length === 1
            ? vfns[0]!
            : (env) => {
                const out: Array<Value> = []
                for (const f of vfns) {
                  const x = f(env)
                  pushFlat(out, x)
                }
                return multifield(out)
              }
      if (v.token.kind === "gvar") {
        const gname = v.token.text
        if (!scope.globalExists(gname)) return cerr(scope, v, "unbound-variable", `global variable ?*${gname}* is not defined`, `define it with (defglobal ?*${gname}* = ...)`)
        return {
          key: seqKey(`bind:g:${gname}`, valueArgs),
          fn: (env) => {
            const x = compute(env)
            env.host.globals.set(gname, x)
            return x
          }
        }
      }
      const slot = scope.bindLocal(v.token.text)
      if (slot === null) return cerr(scope, e, "compile", "bind is not allowed here", "use bind in a rule's actions or a deffunction")
      return {
        key: seqKey(`bind:${slot}`, valueArgs),
        fn: (env) => {
          const x = compute(env)
          env.frame[slot] = x
          return x
        }
      }
    }
    case "if": {
      const cond = rest[0]
      if (cond === undefined) return cerr(scope, e, "compile", "if expects a condition", "write (if <cond> then ... else ...)")
      const c = compileExpr(cond, scope)
      if (!isSym(rest[1], "then")) return cerr(scope, rest[1] ?? e, "compile", "if expects then after the condition", "write (if <cond> then ... else ...)")
      const elseAt = rest.findIndex((x, k) => k > 1 && isSym(x, "else"))
      const thenItems = rest.slice(2, elseAt < 0 ? undefined : elseAt)
      const elseItems = elseAt < 0 ? [] : rest.slice(elseAt + 1)
      const thenFn = compileBody(thenItems, scope)
      const elseFn = compileBody(elseItems, scope)
      return { key: `(if ${c.key})`, fn: (env) => (isTrue(c.fn(env)) ? thenFn(env) : elseFn(env)) }
    }
    case "while": {
      const cond = rest[0]
      if (cond === undefined) return cerr(scope, e, "compile", "while expects a condition", "write (while <cond> do ...)")
      const c = compileExpr(cond, scope)
      const body = compileBody(rest.slice(isSym(rest[1], "do") ? 2 : 1), scope)
      return {
        key: `(while ${c.key})`,
        fn: (env) => {
          while (isTrue(c.fn(env))) {
            const value = body(env)
            if (env.breaking) {
              env.breaking = false
              break
            }
            // `return` inside the loop: its value is the enclosing call's.
            if (env.returning) return value
          }
          return FALSE
        }
      }
    }
    case "loop-for-count": {
      const spec = rest[0]
      if (spec === undefined) return cerr(scope, e, "compile", "loop-for-count expects a range", "write (loop-for-count (?i 1 10) do ...)")
      let varSlot: number | null = null
      let lo: CompiledExpr = constant(int(1))
      let hi: CompiledExpr
      if (spec.kind === "list") {
        const v = spec.items[0]
        if (v === undefined || v.kind !== "atom" || v.token.kind !== "sfvar") return cerr(scope, spec, "compile", "loop-for-count expects (?var [start] end)", "write (loop-for-count (?i 1 10) do ...)")
        if (spec.items.length === 2) hi = compileExpr(spec.items[1]!, scope)
        else {
          lo = compileExpr(spec.items[1]!, scope)
          hi = compileExpr(spec.items[2]!, scope)
        }
        varSlot = scope.bindLocal(v.token.text)
      } else hi = compileExpr(spec, scope)
      const body = compileBody(rest.slice(isSym(rest[1], "do") ? 2 : 1), scope)
      return {
        key: "(loop-for-count)",
        fn: (env) => {
          const a = lo.fn(env)
          const b = hi.fn(env)
          if (a.type !== "INTEGER" || b.type !== "INTEGER") throw new EvalError("loop-for-count expects integer bounds", "use integers", site)
          for (let k = a.value; k <= b.value; k++) {
            if (varSlot !== null) env.frame[varSlot] = int(k)
            const value = body(env)
            if (env.breaking) {
              env.breaking = false
              break
            }
            if (env.returning) return value
          }
          return FALSE
        }
      }
    }
    case "foreach": {
      const v = rest[0]
      if (v === undefined || v.kind !== "atom" || v.token.kind !== "sfvar" || rest[1] === undefined) {
        return cerr(scope, e, "compile", "foreach expects a variable and a multifield", "write (foreach ?x (create$ a b) do ...)")
      }
      const list = compileExpr(rest[1], scope)
      const varSlot = scope.bindLocal(v.token.text)
      const idxSlot = scope.bindLocal(`${v.token.text}-index`)
      const body = compileBody(rest.slice(isSym(rest[2], "do") ? 3 : 2), scope)
      return {
        key: "(foreach)",
        fn: (env) => {
          const mf = list.fn(env)
          const items = mf.type === "MULTIFIELD" ? mf.value : [mf]
          // foreach (progn$) is worth its last action's value, as in CLIPS.
          let last: Value = FALSE
          for (let k = 0; k < items.length; k++) {
            if (varSlot !== null) env.frame[varSlot] = items[k]!
            if (idxSlot !== null) env.frame[idxSlot] = int(k + 1)
            last = body(env)
            if (env.breaking) {
              env.breaking = false
              break
            }
            if (env.returning) return last
          }
          return last
        }
      }
    }
    case "progn": {
      const body = compileBody(rest, scope)
      return { key: "(progn)", fn: body }
    }
    case "progn$":
      return compileSpecial("foreach", e, rest[0]?.kind === "list" ? [...rest[0].items, ...rest.slice(1)] : rest, scope)
    case "switch": {
      const subject = rest[0]
      if (subject === undefined) return cerr(scope, e, "compile", "switch expects a value", "write (switch <expr> (case <v> then ...) (default ...))")
      const s = compileExpr(subject, scope)
      const cases: Array<{ test: CompiledExpr | null; body: Compiled }> = []
      for (const c of rest.slice(1)) {
        if (c.kind !== "list" || !isSym(c.items[0])) return cerr(scope, c, "compile", "expected (case ...) or (default ...)", "write (case <v> then ...)")
        const h = (c.items[0] as SAtom).token.text
        if (h === "case") {
          if (c.items[1] === undefined || !isSym(c.items[2], "then")) return cerr(scope, c, "compile", "case expects a value and then", "write (case <v> then ...)")
          cases.push({ test: compileExpr(c.items[1], scope), body: compileBody(c.items.slice(3), scope) })
        } else if (h === "default") cases.push({ test: null, body: compileBody(c.items.slice(1), scope) })
        else return cerr(scope, c, "compile", "expected (case ...) or (default ...)", "write (case <v> then ...)")
      }
      return {
        key: "(switch)",
        fn: (env) => {
          const v = s.fn(env)
          for (const c of cases) {
            if (c.test === null) return c.body(env)
            const t = c.test.fn(env)
            if (t.type === v.type && (t.type === "MULTIFIELD" ? JSON.stringify(t) === JSON.stringify(v) : t.value === v.value)) return c.body(env)
          }
          return FALSE
        }
      }
    }
    case "return": {
      const val = rest[0] === undefined ? null : compileExpr(rest[0], scope)
      return {
        key: "(return)",
        fn: (env) => {
          const v = val === null ? FALSE : val.fn(env)
          env.returning = true
          // A rule's `return` also ends its module's focus; a deffunction's only its call.
          if (env.inFunction !== true) env.host.ruleReturned()
          return v
        }
      }
    }
    case "break":
      return {
        key: "(break)",
        fn: (env) => {
          env.breaking = true
          return FALSE
        }
      }
    case "halt":
      requireActions(scope, e, name)
      return {
        key: "(halt)",
        fn: (env) => {
          env.host.halt()
          return FALSE
        }
      }
    case "focus": {
      requireActions(scope, e, name)
      if (rest.length === 0) return cerr(scope, e, "compile", "focus expects at least one module", "write (focus MODULE ...)")
      const mods: Array<string> = []
      for (const m of rest) {
        if (!isSym(m)) return cerr(scope, m, "compile", "focus expects module names", "write (focus MODULE ...)")
        if (!scope.moduleExists(m.token.text)) return cerr(scope, m, "compile", `unknown module ${m.token.text}`, "define it with defmodule first")
        mods.push(m.token.text)
      }
      return {
        key: "(focus)",
        fn: (env) => {
          env.host.focus(mods, site)
          return TRUE
        }
      }
    }
    case "printout": {
      requireActions(scope, e, name)
      const router = rest[0]
      if (router === undefined) return cerr(scope, e, "compile", "printout expects a logical name", "write (printout t ...)")
      const routerName = router.kind === "atom" && (router.token.kind === "symbol" || router.token.kind === "string") ? router.token.text : null
      const routerExpr = routerName === null ? compileExpr(router, scope) : null
      // Loops rather than callbacks here and below: a callback using `scope` would keep the
      // compile scope alive in the context of every closure this function returns.
      const parts: Array<Compiled> = []
      for (const a of rest.slice(1)) parts.push(printoutPart(a) ?? compileExpr(a, scope).fn)
      return {
        key: "(printout)",
        fn: (env) => {
          const r = routerName ?? renderPrintout(routerExpr!.fn(env))
          for (const p of parts) {
            const v = p(env)
            env.host.print(r, renderPrintout(v))
          }
          return FALSE
        }
      }
    }
    case "assert": {
      requireActions(scope, e, name)
      if (rest.length === 0) return cerr(scope, e, "compile", "assert expects at least one fact", "write (assert (template (slot value)))")
      const makers: Array<FactMaker> = []
      for (const f of rest) makers.push(compileFactSpec(f, scope))
      return {
        key: "(assert)",
        fn: (env) => {
          let last: Value = FALSE
          for (const m of makers) {
            const fact = m.make(env)
            last = fact === undefined ? FALSE : factAddress(fact.id)
          }
          return last
        }
      }
    }
    case "retract": {
      requireActions(scope, e, name)
      if (rest.length === 0) return cerr(scope, e, "compile", "retract expects at least one fact", "write (retract ?f)")
      const targets = compileArgs(rest, scope)
      return {
        key: "(retract)",
        fn: (env) => {
          for (const t of targets) {
            const v = t.fn(env)
            if (v.type === "FACT-ADDRESS" || v.type === "INTEGER") env.host.retractId(v.value)
            else throw new EvalError(`retract expects a fact address or index, got ${catTextSafe(v)}`, "pass ?f from ?f <- (pattern) or a fact index", site, "ARGACCES5")
          }
          return FALSE
        }
      }
    }
    case "modify":
    case "duplicate": {
      requireActions(scope, e, name)
      const target = rest[0]
      if (target === undefined) return cerr(scope, e, "compile", `${name} expects a fact`, `write (${name} ?f (slot value))`)
      const t = compileExpr(target, scope)
      const changes: Array<{ slotName: string; pos: Pos; values: Array<CompiledExpr> }> = []
      for (const c of rest.slice(1)) {
        if (c.kind !== "list" || !isSym(c.items[0])) return cerr(scope, c, "compile", `${name} expects slot changes like (slot value)`, `write (${name} ?f (slot value))`)
        changes.push({ slotName: (c.items[0] as SAtom).token.text, pos: posOf(c), values: compileArgs(c.items.slice(1), scope) })
      }
      const isModify = name === "modify"
      return {
        key: `(${name})`,
        fn: (env) => {
          const v = t.fn(env)
          if (v.type !== "FACT-ADDRESS" && v.type !== "INTEGER") throw new EvalError(`${name} expects a fact address or index`, "pass ?f from ?f <- (pattern)", site, "ARGACCES5")
          // A fact this rule's actions retracted already (a first modify): its values, as CLIPS keeps them.
          const live = env.host.factById(v.value)
          const fact = live ?? (v.type === "FACT-ADDRESS" ? env.host.retractedInFiring(v.value) : undefined)
          if (fact === undefined) throw new EvalError(`${name}: fact f-${v.value} does not exist`, "modify facts that are still in working memory", site, "FACTRHS1")
          const tmpl = fact.template
          if (tmpl.implied) throw new EvalError(`${name}: fact f-${v.value} is an ordered fact`, "modify template facts only", site, "TMPLTFUN1")
          const fields = fact.fields.slice()
          for (const ch of changes) {
            const idx = tmpl.slotIndex.get(ch.slotName)
            if (idx === undefined) throw new EvalError(`template ${tmpl.name} has no slot ${ch.slotName}`, `use one of: ${tmpl.slots.map((s) => s.name).join(", ")}`, site, "TMPLTFUN1")
            const slot = tmpl.slots[idx]!
            fields[idx] = slotValue(slot, ch.values.map((x) => x.fn(env)), site, tmpl)
          }
          if (isModify && live !== undefined) env.host.retractId(fact.id)
          const nf = env.host.assertFields(tmpl, fields, site)
          return nf === undefined ? FALSE : factAddress(nf.id)
        }
      }
    }
    default:
      return cerr(scope, e, "compile", `unsupported form ${name}`, "use a supported function")
  }
}

const catTextSafe = (v: Value): string => {
  try {
    return catText("retract", v, 0, {})
  } catch {
    return v.type
  }
}

/** Combines evaluated values into one slot value (splicing multifields into multislots). */
export const slotValue = (slot: Slot, vals: ReadonlyArray<Value>, site: ErrorSite, tmpl: Template): Value => {
  if (slot.multi) {
    const out: Array<Value> = []
    for (const v of vals) pushFlat(out, v)
    return multifield(out)
  }
  if (vals.length !== 1 || vals[0]!.type === "MULTIFIELD") {
    if (vals.length === 1 && vals[0]!.type === "MULTIFIELD" && vals[0]!.value.length === 1) return vals[0]!.value[0]!
    throw new EvalError(`slot ${slot.name} of ${tmpl.name} takes exactly one value, got ${vals.length === 1 ? "a multifield" : vals.length}`, "give one value or declare the slot as a multislot", site, "TMPLTRHS2")
  }
  return vals[0]!
}

/** A compiled fact specification of assert or deffacts. */
export interface FactMaker {
  make(env: Env): Fact | undefined
  readonly templateName: string
}

/** A printout argument that stands for a character (`crlf`, `tab`, ...), or null. */
const printoutPart = (a: SExpr): Compiled | null => {
  if (isSym(a, "crlf")) return () => str("\n")
  if (isSym(a, "tab")) return () => str("\t")
  if (isSym(a, "vtab")) return () => str("\v")
  if (isSym(a, "ff")) return () => str("\f")
  return null
}

/** True when a fact of an unknown template is written with slot syntax `(rel (slot v))`. */
const usesSlotSyntax = (f: SList, scope: Scope): boolean =>
  f.items
    .slice(1)
    .some((x) => x.kind === "list" && isSym(x.items[0]) && !scope.functions.has((x.items[0] as SAtom).token.text) && !scope.deffunctions.has((x.items[0] as SAtom).token.text) && !SPECIAL_FORMS.has((x.items[0] as SAtom).token.text))

/** Compiles `(template (slot v...)...)` or `(relation field...)` in assert/deffacts. */
export const compileFactSpec = (f: SExpr, scope: Scope): FactMaker => {
  if (f.kind !== "list" || !isSym(f.items[0])) return cerr(scope, f, "compile", "expected a fact like (relation ...) or (template (slot value))", "write (assert (a (x 1)))")
  const head = f.items[0] as SAtom
  const rel = head.token.text
  if (rel === "initial-fact" && f.items.length === 1) {
    const t = scope.impliedTemplate("initial-fact", posOf(head))
    const initialSite = siteOf(scope, f)
    return { templateName: t.name, make: (env) => env.host.assertFields(t, [EMPTY], initialSite) }
  }
  const tmpl = scope.template(rel)
  const site = siteOf(scope, f)
  if (tmpl === undefined || tmpl.implied) {
    if (usesSlotSyntax(f, scope)) {
      return cerr(scope, head, "unknown-template", `unknown template ${rel}`, `define (deftemplate ${rel} ...) before using slot syntax, or check the spelling`)
    }
    const t = tmpl ?? scope.impliedTemplate(rel, posOf(head))
    const parts = compileArgs(f.items.slice(1), scope).map((p) => p.fn)
    return {
      templateName: t.name,
      make: (env) => {
        const out: Array<Value> = []
        for (const p of parts) {
          const v = p(env)
          pushFlat(out, v)
        }
        return env.host.assertFields(t, [multifield(out)], site)
      }
    }
  }
  const given = new Map<number, Array<CompiledExpr>>()
  for (const s of f.items.slice(1)) {
    if (s.kind !== "list" || !isSym(s.items[0])) return cerr(scope, s, "compile", `expected (slot value) in a ${rel} fact`, `write (${rel} (slot value))`)
    const slotName = (s.items[0] as SAtom).token.text
    const idx = tmpl.slotIndex.get(slotName)
    if (idx === undefined) return cerr(scope, s, "compile", `template ${rel} has no slot ${slotName}`, `use one of: ${tmpl.slots.map((x) => x.name).join(", ") || "(no slots)"}`)
    if (given.has(idx)) return cerr(scope, s, "compile", `slot ${slotName} given twice`, "give each slot once")
    const slot = tmpl.slots[idx]!
    const vals = compileArgs(s.items.slice(1), scope)
    if (!slot.multi && vals.length !== 1) return cerr(scope, s, "compile", `slot ${slotName} of ${rel} takes exactly one value`, "give one value or declare the slot as a multislot")
    // Literal constraint check at compile time, as CLIPS does for constants.
    const consts = s.items.slice(1).map((x) => (x.kind === "atom" ? atomValue(x) : null))
    if (consts.every((c) => c !== null)) {
      const v = slot.multi ? multifield(consts as Array<Value>) : consts[0]!
      const why = checkSlot(slot, v)
      if (why !== null) return cerr(scope, s, "type", describeViolation(tmpl, slot, v, why), "use a value the slot's type and allowed values accept")
    }
    given.set(idx, vals)
  }
  for (const slot of tmpl.slots) {
    if (!given.has(slot.index) && slot.default.kind === "none") {
      return cerr(scope, f, "compile", `slot ${slot.name} of ${rel} requires a value because of its (default ?NONE) attribute`, `give (${slot.name} ...) in the fact`)
    }
  }
  const slots = tmpl.slots
  const makers: Array<((env: Env) => Value) | null> = []
  let allConst = true
  for (const slot of slots) {
    const vals = given.get(slot.index)
    if (vals === undefined) {
      makers.push(null)
      if (slot.default.kind === "dynamic") allConst = false
      continue
    }
    if (!vals.every((x) => x.key.startsWith("y:") || x.key.startsWith("s:") || x.key.startsWith("i:") || x.key.startsWith("f:"))) allConst = false
    makers.push(slotMaker(slot, vals, site, tmpl))
  }
  return templateFactMaker(tmpl, makers, allConst, site)
}

/** The value maker of one slot given in a fact specification. */
const slotMaker = (slot: Slot, vals: ReadonlyArray<CompiledExpr>, site: ErrorSite, tmpl: Template): ((env: Env) => Value) => {
  if (!slot.multi && vals.length === 1) return vals[0]!.fn
  const fns = vals.map((x) => x.fn)
  return (env: Env) => slotValue(slot, fns.map((fn) => fn(env)), site, tmpl)
}

/** The maker of a template fact; a fact of constants only computes its fields once. */
const templateFactMaker = (tmpl: Template, makers: ReadonlyArray<((env: Env) => Value) | null>, allConst: boolean, site: ErrorSite): FactMaker => {
  const slots = tmpl.slots
  let constFields: ReadonlyArray<Value> | null = null
  return {
    templateName: tmpl.name,
    make: (env) => {
      if (constFields !== null) return env.host.assertFields(tmpl, constFields, site)
      const fields: Array<Value> = new Array<Value>(slots.length)
      for (let k = 0; k < slots.length; k++) {
        const m = makers[k]
        if (m !== null && m !== undefined) {
          const v = m(env)
          const slot = slots[k]!
          fields[k] = slot.multi && v.type !== "MULTIFIELD" ? multifield([v]) : !slot.multi && v.type === "MULTIFIELD" ? slotValue(slot, [v], site, tmpl) : v
        } else fields[k] = defaultValue(slots[k]!, env)
      }
      if (allConst) constFields = fields
      return env.host.assertFields(tmpl, fields, site)
    }
  }
}

/** A slot's default value for an assert that does not give it. */
export const defaultValue = (slot: Slot, env: Env): Value => {
  const d = slot.default
  switch (d.kind) {
    case "static":
      return d.value
    case "dynamic":
      return d.eval(env)
    case "derive":
    case "none":
      return deriveDefault(slot.constraint, slot.multi)
  }
}

/** The parts of a scope that do not depend on variables. */
export type BaseScope = Omit<Scope, "resolve" | "bindLocal" | "actions">

const NO_VARIABLE = (): null => null

/** A scope: `base` plus how variables resolve (built as one literal: scopes are made per rule). */
export const withVariables = (base: BaseScope, actions: boolean, resolve: Scope["resolve"], bindLocal: Scope["bindLocal"]): Scope => ({
  site: base.site,
  functions: base.functions,
  deffunctions: base.deffunctions,
  template: base.template,
  impliedTemplate: base.impliedTemplate,
  moduleExists: base.moduleExists,
  globalExists: base.globalExists,
  resolve,
  bindLocal,
  actions
})

/** A scope for evaluating constant expressions (defaults, deffacts, globals). */
export const constantScope = (base: BaseScope): Scope => withVariables(base, false, NO_VARIABLE, NO_VARIABLE)

