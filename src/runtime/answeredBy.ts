/**
 * A question answered by someone else first: who answered it and when (as far as the run's
 * record or its checkpoints say), and the refusal a second answer gets. Two answers to one
 * wait race for the take-over of the run's record (compare-and-set on its status, owner
 * and step); the one that loses is refused with this, never applied, and never reported as
 * its own success.
 */
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import type { CheckpointerShape } from "../checkpoint/Checkpointer.js"
import { AnsweredWait, type RunRecord } from "../checkpoint/models.js"
import type { CheckpointError } from "../errors.js"
import { waitIdOf } from "../checkpoint/waitId.js"
import { ownerAlive } from "./owner.js"
import { waitedChildId } from "./waitedChild.js"

/** Who answered, and when, when it is recorded. */
export interface Answerer {
  readonly actor?: string | undefined
  readonly at?: string | undefined
}

/** The actor an `interrupt.response` record names (recordings made before it was recorded name none). */
export const actorOf = (request: unknown): string | undefined => {
  const actor = typeof request === "object" && request !== null && "actor" in request ? request.actor : undefined
  return typeof actor === "string" ? actor : undefined
}

/**
 * The answer `run`'s record keeps while it is queued, driven or paused with it
 * (`waiting.given` of a question, not of a breakpoint, once it no longer waits).
 */
const keptAnswer = (run: RunRecord): NonNullable<RunRecord["waiting"]>["given"] =>
  run.status !== "awaiting-input" && run.waiting !== null && run.waiting.kind !== "breakpoint" ? run.waiting.given : undefined

/**
 * Whether `now` (the run's record as read after another process moved it on) shows the
 * wait read at step `step` answered: the answer kept on its record (queued or being
 * driven with it), or steps committed past the wait.
 */
export const answeredSince = (now: RunRecord, step: number): boolean =>
  now.status !== "awaiting-input" && (keptAnswer(now) !== undefined || now.last_step > step)

/**
 * Who answered the run's question: the answer kept on its record while it is queued or
 * driven with it (`waiting.given`), else the newest answer its checkpoints after step
 * `after` record (an `interrupt.response` call, with the step's start as when). Undefined
 * when neither says.
 */
export const answererOf = (checkpointer: CheckpointerShape, now: RunRecord, after = -1): Effect.Effect<Answerer | undefined, CheckpointError> => {
  const given = keptAnswer(now)
  if (given !== undefined && given.actor !== "") return Effect.succeed({ actor: given.actor, at: given.at })
  return Effect.map(checkpointer.listCheckpoints(now.run_id), (checkpoints) => {
    for (const checkpoint of [...checkpoints].reverse()) {
      if (checkpoint.step <= after) break
      const call = [...(checkpoint.calls ?? [])].reverse().find((c) => c.name === "interrupt.response")
      if (call !== undefined) return { actor: actorOf(call.request), at: checkpoint.started_at }
    }
    return undefined
  })
}

/**
 * What an answer's `interrupt.response` record keeps, outside its hashed request (a replay
 * matches on the request alone), when the run was resumed with it: the wait it answered
 * (`meta.wait_id`). How a later answer naming that wait is known to come after it (see
 * {@link waitAnswerer}), once the step it answered committed and the record's `waiting`
 * moved on. `at`, when the answer was given: kept for an answer to a question its node asked
 * before it asked again in the step (the step's start is when its last answer was given).
 */
export const answeredWaitMeta = (
  waitId: string,
  at?: string,
  earlier?: ReadonlyArray<AnsweredWait>
): { readonly wait_id: string; readonly at?: string; readonly answered_waits?: ReadonlyArray<AnsweredWait> } => ({
  wait_id: waitId,
  ...(at !== undefined ? { at } : {}),
  ...(earlier !== undefined && earlier.length > 0 ? { answered_waits: earlier } : {})
})

const decodeAnsweredWaits = Schema.decodeUnknownOption(Schema.Array(AnsweredWait))

/**
 * The earlier waits of its step an `interrupt.response` record says the run took answers
 * to before this one (`meta.answered_waits`, from the wait's `answered_waits`: a run
 * waiting on its child run's question, answered and asked again in one step); none when it
 * says none or what it says is not that.
 */
export const answeredWaitsOf = (meta: { readonly [key: string]: unknown } | undefined): ReadonlyArray<AnsweredWait> =>
  meta?.["answered_waits"] === undefined ? [] : Option.getOrElse(decodeAnsweredWaits(meta["answered_waits"]), (): ReadonlyArray<AnsweredWait> => [])

/** The wait an `interrupt.response` record (or an answered `interrupt` call: {@link askedAgainMeta}) says it answered (its `meta.wait_id`), if it says. */
export const answeredWaitOf = (meta: { readonly [key: string]: unknown } | undefined): string | undefined =>
  typeof meta?.["wait_id"] === "string" ? meta["wait_id"] : undefined

/**
 * What a node's `ctx.interrupt` call answered by a resume keeps, outside its hashed request,
 * when the node asks again in the same step: the wait it answered, who answered it and when.
 * The step is not committed yet (it runs again from its start with each answer), so this
 * call, kept with the next wait's attempt (`waiting.attempt`), is what says that the earlier
 * question was answered: a late answer to it is refused as answered (see
 * {@link waitAnswerer}), and the step's `interrupt.response` record of that answer, once it
 * commits, names its wait and who gave it.
 */
export const askedAgainMeta = (waitId: string, actor: string, at: string | undefined): { readonly wait_id: string; readonly actor: string; readonly at?: string } =>
  at !== undefined ? { wait_id: waitId, actor, at } : { wait_id: waitId, actor }

/** Who answered, and when, as a call's meta says ({@link askedAgainMeta}; an `interrupt.response`'s `at`). */
export const answererOfMeta = (meta: { readonly [key: string]: unknown } | undefined): Answerer => ({
  actor: typeof meta?.["actor"] === "string" ? meta["actor"] : undefined,
  at: typeof meta?.["at"] === "string" ? meta["at"] : undefined
})

/**
 * Who answered the run's wait `waitId`, when it was answered (the run was at that wait, and
 * an answer to it was taken): the answer kept on its record (`waiting.given` of that wait,
 * while the run is queued, driven or paused with it); else, for a question asked before
 * the run's node asked again in the same step (not committed yet), its current wait's
 * record of it: `waiting.answered_waits` (a question of a child run, answered through this
 * run), or the answered `ctx.interrupt` call its attempt keeps ({@link askedAgainMeta});
 * else the `interrupt.response` record of a committed step that says it answered that wait
 * (`meta.wait_id`, with its `meta.at`, or the step's start, as when; or one of the earlier
 * waits its `meta.answered_waits` names). `{}` when it was answered but who is not known;
 * undefined when nothing says the run ever took an answer to that wait (an id it never
 * waited at, or a wait it left unanswered: a `map`'s next item, a timeout, a cancel).
 */
export const waitAnswerer = (checkpointer: CheckpointerShape, now: RunRecord, waitId: string): Effect.Effect<Answerer | undefined, CheckpointError> => {
  const given = keptAnswer(now)
  if (given !== undefined && now.waiting !== null && waitIdOf(now.waiting) === waitId) {
    return Effect.succeed({ actor: given.actor !== "" ? given.actor : undefined, at: given.at })
  }
  const earlier = now.waiting?.answered_waits?.find((w) => w.wait_id === waitId)
  if (earlier !== undefined) return Effect.succeed({ actor: earlier.actor, at: earlier.at })
  const asked = now.waiting?.attempt?.calls.find((c) => c.name === "interrupt" && answeredWaitOf(c.meta) === waitId)
  if (asked !== undefined) return Effect.succeed(answererOfMeta(asked.meta))
  return Effect.gen(function*() {
    for (const checkpoint of [...yield* checkpointer.listCheckpoints(now.run_id)].reverse()) {
      for (const call of checkpoint.calls ?? []) {
        if (call.name !== "interrupt.response") continue
        if (answeredWaitOf(call.meta) === waitId) return { actor: actorOf(call.request), at: answererOfMeta(call.meta).at ?? checkpoint.started_at }
        const before = answeredWaitsOf(call.meta).find((w) => w.wait_id === waitId)
        if (before !== undefined) return { actor: before.actor, at: before.at ?? checkpoint.started_at }
      }
    }
    return yield* childAnswerer(checkpointer, now, waitId)
  })
}

/**
 * For a run waiting on its child run's question (a `subgraph` node's: its waits are the
 * child's), whether the child took an answer to wait `waitId`: a question the child asked
 * before it asked again in its step, answered directly, or through this run in a record
 * written before `waiting.answered_waits` was kept. When it was answered; who, only when
 * the child names someone other than this run relaying the answer.
 */
const childAnswerer = (checkpointer: CheckpointerShape, now: RunRecord, waitId: string): Effect.Effect<Answerer | undefined, CheckpointError> =>
  Effect.gen(function*() {
    const childId = waitedChildId(now)
    if (childId === undefined) return undefined
    const child = Option.getOrUndefined(yield* checkpointer.getRun(childId))
    if (child === undefined || child.parent_run_id !== now.run_id) return undefined
    const answerer = yield* waitAnswerer(checkpointer, child, waitId)
    if (answerer === undefined) return undefined
    // (`subgraph:<run>`: the child's actor when its parent drives it, see `Subgraph.childActor`.)
    return answerer.actor === `subgraph:${now.run_id}` ? { at: answerer.at } : answerer
  })

/** What became of the run since it was answered, as `now` says. */
const whereNow = (now: RunRecord): string =>
  now.status === "running" && now.owner !== null
    ? `it is being driven with that answer by ${ownerAlive(now.owner) ? "live " : ""}process ${now.owner}`
    : now.status === "pending"
    ? "it is queued to continue with that answer"
    : now.status === "paused" && now.waiting?.given !== undefined
    ? "it is paused with that answer kept (resume it without a response to go on with it)"
    : now.status === "awaiting-input"
    ? `it went on and now waits at node '${now.waiting?.node ?? "?"}' for another answer`
    : `it went on and is now ${now.status}`

/**
 * The message refusing an answer to run `now` whose question another process (or request)
 * answered first: who and when, where the run is now, and that this answer was not applied.
 */
export const alreadyAnswered = (now: RunRecord, answerer: Answerer | undefined): string => {
  const by = answerer?.actor !== undefined ? ` by '${answerer.actor}'` : ""
  const when = answerer?.at !== undefined ? ` at ${answerer.at}` : ""
  return `run ${now.run_id} was already answered${by}${when} through another process or request: ${whereNow(now)}; ` +
    "this answer was not applied (read the run to see its outcome)"
}

/** The statuses past an answered wait whose steps (or record) say who answered it. */
const PAST_AN_ANSWER: ReadonlySet<RunRecord["status"]> = new Set(["done", "failed", "running", "pending"])

/**
 * Why an answer to `run` (its record, read now) is refused because another was applied
 * first: `alreadyAnswered`'s message, when the run no longer waits and its record keeps
 * an answer or its steps say who answered; undefined otherwise (the caller's other checks
 * decide).
 */
export const answeredFirst = (checkpointer: CheckpointerShape, run: RunRecord): Effect.Effect<string | undefined, CheckpointError> => {
  const kept = keptAnswer(run) !== undefined
  if (run.status === "awaiting-input" || !(kept || PAST_AN_ANSWER.has(run.status))) return Effect.succeed(undefined)
  return Effect.map(answererOf(checkpointer, run), (answerer) => (kept || answerer !== undefined ? alreadyAnswered(run, answerer) : undefined))
}
