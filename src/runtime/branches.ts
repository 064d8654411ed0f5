/**
 * Executing a step's frontier: every node concurrently against one state snapshot. The
 * nodes of a parallel group with a strategy other than `all` race: `race` keeps the first
 * branch to finish (its failure fails the step), `any` the first to succeed, `quorum:N`
 * the first N to succeed; the others are interrupted and their writes dropped. Which
 * branches won is recorded in the step's cassette (`parallel.<group>`), and a replay runs
 * exactly the recorded winners, so a replayed step merges the same writes.
 */
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Fiber from "effect/Fiber"
import type { CallRecord, ParallelGroup } from "../checkpoint/models.js"
import type { NodeEnv, NodeFailure, NodeOutcome } from "../nodes/Executor.js"

type StepError = NodeFailure

/** The outcome of one executed node. */
export interface Executed {
  readonly id: string
  readonly outcome: NodeOutcome
}

/** The name under which a group's winners are recorded. */
export const winnersCall = (group: ParallelGroup): string => `parallel.${group.id}`

/** Node of the recorded winner calls in a step's cassette. */
export const PARALLEL_NODE = "__parallel__"

const quorum = (
  ids: ReadonlyArray<string>,
  n: number,
  execute: (id: string) => Effect.Effect<NodeOutcome, StepError, NodeEnv>
): Effect.Effect<ReadonlyArray<Executed>, StepError, NodeEnv> =>
  Effect.gen(function*() {
    const done = yield* Deferred.make<ReadonlyArray<Executed>, StepError>()
    const wins: Array<Executed> = []
    let failures = 0
    const fibers = yield* Effect.forEach(ids, (id) =>
      Effect.fork(execute(id).pipe(Effect.matchEffect({
        onSuccess: (outcome) =>
          Effect.suspend(() => {
            wins.push({ id, outcome })
            return wins.length === n ? Deferred.succeed(done, [...wins]) : Effect.void
          }),
        onFailure: (error) =>
          Effect.suspend(() => {
            failures++
            return ids.length - failures < n ? Deferred.fail(done, error) : Effect.void
          })
      }))))
    return yield* Deferred.await(done).pipe(Effect.ensuring(Effect.forEach(fibers, Fiber.interrupt, { discard: true })))
  })

/** Run one strategic group live, returning its winners. */
const contest = (
  group: ParallelGroup,
  ids: ReadonlyArray<string>,
  execute: (id: string) => Effect.Effect<NodeOutcome, StepError, NodeEnv>
): Effect.Effect<ReadonlyArray<Executed>, StepError, NodeEnv> => {
  switch (group.strategy) {
    case "all":
      return Effect.forEach(ids, (id) => Effect.map(execute(id), (outcome) => ({ id, outcome })), { concurrency: "unbounded" })
    case "race":
      return Effect.flatMap(
        Effect.raceAll(ids.map((id) => Effect.map(Effect.either(execute(id)), (result) => ({ id, result })))),
        ({ id, result }) => (result._tag === "Left" ? Effect.fail(result.left) : Effect.succeed([{ id, outcome: result.right }]))
      )
    case "any":
      return Effect.map(Effect.raceAll(ids.map((id) => Effect.map(execute(id), (outcome) => ({ id, outcome })))), (w) => [w])
    default:
      return quorum(ids, Math.min(ids.length, Number(group.strategy.slice("quorum:".length))), execute)
  }
}

/**
 * Execute `frontier`: strategic groups contest, everything else runs to completion.
 * `recorded` gives the winners a replay must reuse. Returns the executed nodes in
 * declaration order (of `frontier`) and each contested group's winners.
 */
export const executeFrontier = (input: {
  readonly frontier: ReadonlyArray<string>
  readonly groups: ReadonlyArray<ParallelGroup>
  readonly execute: (id: string) => Effect.Effect<NodeOutcome, StepError, NodeEnv>
  readonly recorded: (group: ParallelGroup) => ReadonlyArray<string> | undefined
}): Effect.Effect<{ readonly executed: ReadonlyArray<Executed>; readonly winners: ReadonlyArray<readonly [ParallelGroup, ReadonlyArray<string>]> }, StepError, NodeEnv> => {
  const { execute, frontier } = input
  const contested = input.groups.filter((g) => g.strategy !== "all")
  if (contested.length === 0) {
    return frontier.length === 1
      ? Effect.map(execute(frontier[0]!), (outcome) => ({ executed: [{ id: frontier[0]!, outcome }], winners: [] }))
      : Effect.map(Effect.forEach(frontier, (id) => Effect.map(execute(id), (outcome) => ({ id, outcome })), { concurrency: "unbounded" }), (executed) => ({ executed, winners: [] }))
  }
  const inGroup = new Set(contested.flatMap((g) => g.targets))
  const free = frontier.filter((id) => !inGroup.has(id))
  const tasks: Array<Effect.Effect<ReadonlyArray<Executed>, StepError, NodeEnv>> = [
    Effect.forEach(free, (id) => Effect.map(execute(id), (outcome) => ({ id, outcome })), { concurrency: "unbounded" }),
    ...contested.map((group) => {
      const ids = group.targets.filter((t) => frontier.includes(t))
      const replayed = input.recorded(group)
      return replayed === undefined
        ? contest(group, ids, execute)
        : Effect.forEach(replayed, (id) => Effect.map(execute(id), (outcome) => ({ id, outcome })), { concurrency: "unbounded" })
    })
  ]
  return Effect.map(Effect.all(tasks, { concurrency: "unbounded" }), ([freeRun, ...groupRuns]) => {
    const all = [...freeRun!, ...groupRuns.flat()]
    const position = new Map(frontier.map((id, i) => [id, i]))
    return {
      executed: all.sort((a, b) => position.get(a.id)! - position.get(b.id)!),
      winners: contested.map((g, i) => [g, groupRuns[i]!.map((w) => w.id).sort((a, b) => position.get(a)! - position.get(b)!)] as const)
    }
  })
}

/** The winners a replay recorded for `group` at a step, from the parent's cassette. */
export const recordedWinners = (calls: ReadonlyArray<CallRecord> | undefined, group: ParallelGroup): ReadonlyArray<string> | undefined => {
  const entry = calls?.find((c) => c.name === winnersCall(group))
  return Array.isArray(entry?.response) ? (entry.response as ReadonlyArray<string>) : undefined
}
