/**
 * Node kinds that are not built in (provided as a Layer, declared by a package, named by
 * module reference) run behind a guard: a kind's `check`, `compile` or `execute` that
 * throws, dies, returns something that is not what the contract says, or fails with an
 * error of its own becomes a typed Stargraph error that names the node and the kind
 * (`IRValidationError` when the graph is built, `NodeExecutionError` when it runs), so the
 * run fails cleanly instead of leaving the runtime with a defect. Built-in kinds are not
 * wrapped: they are tested here.
 */
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as HashSet from "effect/HashSet"
import { isStargraphError, NodeExecutionError } from "../errors.js"
import { nodeFailed, renderCause } from "./callFunction.js"
import type { Executor, NodeOutcome } from "./Executor.js"
import type { CompileContext, CompiledNode, DecodedNode, ModuleRef, NodeKind, NodeProblem } from "./NodeKind.js"

/** A short description of a value that is not what was expected. */
export const describeValue = (value: unknown): string => {
  if (value === null) return "null"
  if (Array.isArray(value)) return "an array"
  if (value instanceof Promise) return "a Promise"
  if (typeof value !== "object") return `a ${typeof value}`
  let text: string
  try {
    text = JSON.stringify(value) ?? "an object"
  } catch {
    text = "an object"
  }
  return text.length > 80 ? `${text.slice(0, 77)}...` : text
}

const bugFix = (kind: string, origin: string): string =>
  `this is a bug in the node kind '${kind}' (${origin}): fix it there, or use another kind for this node`

/** The outcome an executor returned, if it has the shape the run loop reads; else what is wrong with it. */
const outcomeProblem = (outcome: unknown): string | undefined => {
  if (outcome === null || typeof outcome !== "object") return `returned ${describeValue(outcome)}`
  const tagged = outcome as { readonly _tag?: unknown; readonly update?: unknown; readonly prompt?: unknown; readonly responseField?: unknown }
  if (tagged._tag === "Update") {
    return tagged.update !== null && typeof tagged.update === "object" && !Array.isArray(tagged.update)
      ? undefined
      : `returned an Update whose update is ${describeValue(tagged.update)}`
  }
  if (tagged._tag === "Interrupt") {
    return typeof tagged.prompt === "string" && typeof tagged.responseField === "string"
      ? undefined
      : "returned an Interrupt without a string prompt and responseField"
  }
  return `returned ${describeValue(outcome)}`
}

/** `execute` behind the guard: every way it can break becomes a `NodeExecutionError` naming the node. */
export const guardExecutor = (execute: Executor, kind: string, origin: string): Executor => (state, input) =>
  Effect.suspend(() => {
    const broke = (what: string) =>
      new NodeExecutionError({
        nodeId: input.nodeId,
        step: input.step,
        attempts: 1,
        cause: `node kind '${kind}' ${what}; its execute must return an Effect of {_tag: "Update", update: {...}} ` +
          `or {_tag: "Interrupt", prompt, responseField, answered} (${bugFix(kind, origin)})`
      })
    let result: unknown
    try {
      result = execute(state, input)
    } catch (cause) {
      return Effect.fail(nodeFailed(input, 1, cause))
    }
    if (!Effect.isEffect(result)) return Effect.fail(broke(`execute returned ${describeValue(result)}, not an Effect`))
    return (result as ReturnType<Executor>).pipe(
      Effect.catchAllCause((cause) => {
        if (Cause.isInterruptedOnly(cause)) {
          // Nobody interrupted this node (the run was not cancelled): its own Effect ended
          // interrupted, which fails this node only, not the whole step.
          return Effect.flatMap(Effect.descriptor, (fiber) =>
            HashSet.size(fiber.interruptors) > 0
              ? Effect.failCause(cause as Cause.Cause<never>)
              : Effect.fail(new NodeExecutionError({
                nodeId: input.nodeId,
                step: input.step,
                attempts: 1,
                cause: `node kind '${kind}' ended interrupted though nothing interrupted the run (it ran Effect.interrupt, or joined a fiber it had interrupted); ` +
                  "a node that gives up should fail with an error of its own"
              })))
        }
        const failure = Cause.failureOption(cause)
        if (failure._tag === "Some") return Effect.fail(isStargraphError(failure.value) ? failure.value : nodeFailed(input, 1, failure.value))
        return Effect.fail(nodeFailed(input, 1, Cause.squash(cause)))
      }),
      Effect.flatMap((outcome): Effect.Effect<NodeOutcome, NodeExecutionError> => {
        const problem = outcomeProblem(outcome)
        return problem === undefined ? Effect.succeed(outcome) : Effect.fail(broke(problem))
      })
    )
  })

const isModuleRef = (ref: unknown): ref is ModuleRef =>
  ref !== null && typeof ref === "object" && typeof (ref as ModuleRef).module === "string" && typeof (ref as ModuleRef).exportName === "string"

/** A decoded node of a kind that is not built in, behind the guard. */
const guardDecoded = (node: DecodedNode, kind: string, origin: string): DecodedNode => {
  const modulesOk = Array.isArray(node.modules) && node.modules.every(isModuleRef)
  const broke = (what: string, cause: unknown): NodeProblem => ({ path: ["kind"], message: `node kind '${kind}' ${what}: ${renderCause(cause).split("\n")[0]}`, fix: bugFix(kind, origin) })
  return {
    id: node.id,
    kind: node.kind,
    modules: modulesOk ? node.modules : [],
    check: (ctx) => {
      if (!modulesOk) return broke("listed its modules wrongly", `modules is ${describeValue(node.modules)}, not a list of {module, exportName}`)
      let problem: NodeProblem | undefined
      try {
        problem = node.check(ctx)
      } catch (cause) {
        return broke("broke while checking the node", cause)
      }
      if (problem === undefined || problem === null) return undefined
      if (typeof problem !== "object" || typeof problem.message !== "string") return broke("returned a problem that is not {path, message, fix}", describeValue(problem))
      return { path: Array.isArray(problem.path) ? problem.path : [], message: problem.message, fix: typeof problem.fix === "string" ? problem.fix : bugFix(kind, origin) }
    },
    compile: (ctx: CompileContext) => {
      const broken = (what: string, cause: unknown) => {
        const problem = broke(what, cause)
        return ctx.invalid(problem.path, problem.message, problem.fix)
      }
      let result: unknown
      try {
        result = node.compile(ctx)
      } catch (cause) {
        return Effect.fail(broken("broke while compiling the node", cause))
      }
      if (!Effect.isEffect(result)) return Effect.fail(broken("returned no Effect from compile", `compile returned ${describeValue(result)}`))
      return (result as ReturnType<DecodedNode["compile"]>).pipe(
        Effect.catchAllCause((cause) => {
          const failure = Cause.failureOption(cause)
          return Effect.fail(
            failure._tag === "Some" && isStargraphError(failure.value) ? failure.value : broken("failed to compile the node", failure._tag === "Some" ? failure.value : Cause.squash(cause))
          )
        }),
        Effect.flatMap((compiled): Effect.Effect<CompiledNode, ReturnType<CompileContext["invalid"]>> =>
          compiled !== null && typeof compiled === "object" && typeof compiled.execute === "function"
            ? Effect.succeed({ ...compiled, execute: guardExecutor(compiled.execute, kind, origin) })
            : Effect.fail(broken("compiled to no executor", `compile gave ${describeValue(compiled)}, not {execute}`)))
      )
    }
  }
}

/** `kind` behind the guard; `origin` says where it came from (a package, a module, a Layer). */
export const guardKind = (kind: NodeKind, origin: string): NodeKind => ({
  ...kind,
  decode: (raw) => {
    let decoded: ReturnType<NodeKind["decode"]>
    try {
      decoded = kind.decode(raw)
    } catch (cause) {
      const id = raw !== null && typeof raw === "object" && typeof (raw as { id?: unknown }).id === "string" ? (raw as { id: string }).id : "?"
      const problem = { path: ["kind"], message: `node kind '${kind.name}' broke while reading the node: ${renderCause(cause).split("\n")[0]}`, fix: bugFix(kind.name, origin) }
      return Either.right({ id, kind: kind.name, modules: [], check: () => problem, compile: (ctx) => Effect.fail(ctx.invalid(problem.path, problem.message, problem.fix)) })
    }
    return Either.map(decoded, (node) => guardDecoded(node, kind.name, origin))
  }
})
