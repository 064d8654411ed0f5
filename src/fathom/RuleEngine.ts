/**
 * The rule engine service: opens a run's rule session over a graph's compiled program.
 * The default is Stargraph's own CLIPS-dialect engine, with a pool of loaded engines per
 * program: compiling a program's network is done once per engine, and a run borrows an
 * engine (reset or restored to its own facts) and gives it back when it stops. Provide
 * another `RuleEngine` (e.g. one backed by a native CLIPS) to swap it.
 */
import * as Context from "effect/Context"
import type { RuleError } from "../errors.js"
import type { FactsSnapshot } from "./facts.js"
import type { RuleProgram } from "./program.js"
import * as Either from "effect/Either"
import * as PlannedSession from "./PlannedSession.js"
import { load, type LoadedEngine, open, type RuleSession } from "./RuleSession.js"

/** What a rule engine does. */
export interface RuleEngineShape {
  /** A session for one run: fresh, or restored from a checkpoint's facts without re-firing anything. */
  readonly open: (program: RuleProgram, facts?: FactsSnapshot) => Either.Either<RuleSession, RuleError>
  /** Give a session's engine back once its run stopped (optional: an unreleased one is simply dropped). */
  readonly release: (session: RuleSession) => void
}

/** Most idle engines kept per program. */
const POOL_SIZE = 8

/**
 * The built-in engine, with a pool of loaded engines per program. A program whose routing
 * depends only on which node ran (`RuleProgram.routePlan`) is routed by a planned session
 * (PlannedSession.ts: the same results without running the engine) until something else
 * enters its working memory.
 */
export const make = (options: {
  /** Route programs that have a route plan without the engine (default true; false: always the engine). */
  readonly plannedRouting?: boolean
} = {}): RuleEngineShape => {
  const plannedRouting = options.plannedRouting !== false
  const pools = new WeakMap<RuleProgram, Array<LoadedEngine>>()
  const owners = new WeakMap<RuleSession, LoadedEngine>()
  /** The engine session an planned session handed over to. */
  const handedOver = new WeakMap<RuleSession, RuleSession>()
  const engineSession = (program: RuleProgram, facts: FactsSnapshot | undefined): Either.Either<RuleSession, RuleError> => {
    const pooled = pools.get(program)?.pop()
    return Either.flatMap(pooled !== undefined ? Either.right(pooled) : load(program), (engine) =>
      Either.map(open(program, facts, engine), (session) => {
        owners.set(session, engine)
        return session
      }))
  }
  return {
    open: (program, facts) => {
      if (plannedRouting && program.routePlan !== undefined) {
        const holder: { session?: RuleSession } = {}
        const planned = PlannedSession.open(program, program.routePlan, facts, (snapshot) =>
          Either.map(engineSession(program, snapshot), (inner) => {
            if (holder.session !== undefined) handedOver.set(holder.session, inner)
            return inner
          }))
        if (planned !== undefined) {
          holder.session = planned
          return Either.right(planned)
        }
      }
      return engineSession(program, facts)
    },
    release: (outer) => {
      const session = handedOver.get(outer) ?? outer
      const engine = owners.get(session)
      if (engine === undefined) return
      owners.delete(session)
      const pool = pools.get(session.program) ?? []
      if (pool.length < POOL_SIZE) pool.push(engine)
      pools.set(session.program, pool)
    }
  }
}

/** The rule engine service; defaults to the built-in CLIPS-dialect engine. */
export class RuleEngine extends Context.Reference<RuleEngine>()("stargraph/RuleEngine", {
  defaultValue: () => make()
}) {}
