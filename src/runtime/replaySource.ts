/**
 * What a counterfactual fork replays from: its parent's recorded calls and interrupt
 * responses after the fork step, and the mutation's node output overrides. Built when a
 * fork starts, and rebuilt from the stored parent and mutation when a fork that stopped
 * part-way is resumed.
 */
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import { Checkpointer } from "../checkpoint/Checkpointer.js"
import { type CallRecord, type Checkpoint, type ErrorRecord, type RunRecord, type StepAttempt, TERMINAL_STATUSES, UPDATE_NODE } from "../checkpoint/models.js"
import { CheckpointError, ReplayDivergenceError } from "../errors.js"
import type { State } from "../ir/stateSchema.js"
import type { RecordedEdit, ReplaySource } from "./Cassette.js"
import { TIMEOUT_NODE } from "./RunLoop.js"
import type { GraphDefinition } from "./GraphDefinition.js"
import { type CounterfactualMutation, decodeMutation, isEmptyMutation } from "./Mutation.js"
import { stepChildren } from "./stepChildren.js"

const group = (calls: ReadonlyArray<CallRecord>, step: number, into: Map<string, Array<CallRecord>>) => {
  for (const call of calls) {
    const key = `${step}:${call.node}`
    const list = into.get(key) ?? []
    list.push(call)
    into.set(key, list)
  }
}

/** A failed step's calls without each node's first failed call and what followed it. */
const untilFailure = (attempt: StepAttempt, failedNodes: ReadonlyArray<string>): StepAttempt => {
  const failedAt = new Map<string, number>()
  for (const call of attempt.calls) {
    if (call.error !== undefined && call.seq < (failedAt.get(call.node) ?? Infinity)) failedAt.set(call.node, call.seq)
  }
  // A node the run failed on whose calls all answered (it could not use an answer: a
  // completion that did not parse) makes every call of its attempt live again.
  for (const node of failedNodes) if (!failedAt.has(node)) failedAt.set(node, 0)
  return { step: attempt.step, calls: attempt.calls.filter((call) => call.seq < (failedAt.get(call.node) ?? Infinity)) }
}

/** The nodes a run's error names (`nodeId`, several for a parallel step: `a,b`). */
const failedNodes = (error: ErrorRecord | null | undefined): ReadonlyArray<string> => {
  const nodeId = error?.details["nodeId"]
  return typeof nodeId === "string" ? nodeId.split(",") : []
}

/** A failed step's calls, those its failure cut off marked as never waited for. */
const cutOff = (attempt: StepAttempt): StepAttempt => ({
  step: attempt.step,
  calls: attempt.calls.map((call) => (call.abandoned === true ? { ...call, abandoned: "returned" as const } : call))
})

/** How a run stops part-way through its graph: its recording ends there, without a failure or a question. */
const STOPPED_PART_WAY: ReadonlySet<string> = new Set(["paused", "cancelled", "running", "pending", "error"])

/** An error record's own message: `error.message` is its one-line rendering, `<type>: <message>`. */
const ownMessage = (error: ErrorRecord): string => {
  const prefix = `${error.type}: `
  return error.message.startsWith(prefix) ? error.message.slice(prefix.length) : error.message
}

/** The parent's `on_timeout: halt` failure, when it failed so after `fromStep`. */
const haltedByTimeout = (error: ErrorRecord | null | undefined, fromStep: number): ReplaySource["timedOut"] => {
  if (error?.type !== "InterruptTimeoutError") return undefined
  const { nodeId, step, deadline } = error.details
  return typeof nodeId === "string" && typeof step === "number" && typeof deadline === "string" && step > fromStep
    ? { step, nodeId, deadline, message: ownMessage(error) }
    : undefined
}

/** The parent's own divergence from its recording, when it failed so after `fromStep`, in a fork that may not call live. */
const divergedAgain = (error: ErrorRecord | null | undefined, fromStep: number, live: boolean): ReplayDivergenceError | undefined => {
  if (live || error?.type !== "ReplayDivergenceError") return undefined
  const decoded = Schema.decodeUnknownOption(ReplayDivergenceError)({ ...error.details, _tag: error.type, message: ownMessage(error) })
  return Option.isSome(decoded) && decoded.value.step > fromStep ? decoded.value : undefined
}

/**
 * The answers the nodes of one recorded step consumed, into `responses` (the last each
 * node got) and `answers` (every one, for a node that asked several times).
 */
const consumed = (
  graph: GraphDefinition,
  step: number,
  calls: ReadonlyArray<CallRecord>,
  nodes: ReadonlyArray<string>,
  writes: Checkpoint["writes"],
  responses: Map<string, unknown>,
  answers: Map<string, ReadonlyArray<unknown>>
): void => {
  // The step's nodes, and a losing branch that was answered too (its answer is recorded).
  const answered = calls.flatMap((c) => (c.name === "interrupt.response" ? [c.node] : []))
  for (const node of new Set([...nodes, ...answered])) {
    // (A rule interrupt's answer is its own step, `__response__`: answered from `calls`.)
    if (!graph.nodes.has(node)) continue
    const waits = graph.nodes.get(node)!.waitsForInput
    // The answer a node consumed is recorded as its `interrupt.response` call (an
    // interrupt node's, before that was recorded, only as its write to the response field).
    const records = calls.filter((c) => c.node === node && c.name === "interrupt.response")
    const recorded = records[records.length - 1]
    const write = writes.find((w) => w.node === node)
    if (records.length > 1) answers.set(`${step}:${node}`, records.map((c) => c.response))
    if (recorded !== undefined) responses.set(`${step}:${node}`, recorded.response)
    else if (waits !== undefined && write !== undefined && waits.responseField in write.update) responses.set(`${step}:${node}`, write.update[waits.responseField])
  }
}

/**
 * The parent's state after a step, answered for the one step a drive starts from; the
 * parent's checkpoints are released then, not kept in memory for the whole drive.
 */
const onceThenRelease = (parent: ReadonlyArray<Checkpoint>): NonNullable<ReplaySource["stateAt"]> => {
  let checkpoints: ReadonlyArray<Checkpoint> | undefined = parent
  return (step) => {
    const state = checkpoints?.find((cp) => cp.step === step)?.state
    checkpoints = undefined
    return state
  }
}

/** How the parent stopped, as a replay reads it. */
type ParentRecord = Pick<RunRecord, "run_id" | "error" | "waiting"> & Partial<Pick<RunRecord, "status">>

/**
 * The parent's recording without its edits of its state after `fromStep` (`__update__`
 * steps): what a counterfactual fork replays, which does not inherit them (as a LangGraph
 * fork from an earlier checkpoint does not carry later `update_state` calls). The
 * parent's later steps, and the steps its record names (where it waits, or failed), are
 * renumbered to close the gaps, so its recorded calls still answer the fork's steps.
 */
const withoutEdits = (
  parent: ReadonlyArray<Checkpoint>,
  record: ParentRecord | undefined,
  fromStep: number
): { readonly parent: ReadonlyArray<Checkpoint>; readonly record: ParentRecord | undefined } => {
  const edits = parent.filter((cp) => cp.step > fromStep && cp.node === UPDATE_NODE).map((cp) => cp.step)
  if (edits.length === 0) return { parent, record }
  const renumber = (step: number) => step - edits.filter((e) => e < step).length
  const attempt = (a: StepAttempt): StepAttempt => ({ ...a, step: renumber(a.step) })
  const waiting = record?.waiting
  const error = record?.error
  const failedAt = error?.details["step"]
  return {
    parent: parent.filter((cp) => !edits.includes(cp.step)).map((cp) => (cp.step > fromStep ? { ...cp, step: renumber(cp.step) } : cp)),
    record: record === undefined ? undefined : {
      ...record,
      waiting: waiting === null || waiting === undefined ? null : {
        ...waiting,
        step: renumber(waiting.step),
        ...(waiting.attempt !== undefined ? { attempt: attempt(waiting.attempt) } : {})
      },
      error: error === null || error === undefined ? null : {
        ...error,
        ...(error.attempt !== undefined ? { attempt: attempt(error.attempt) } : {}),
        details: typeof failedAt === "number" ? { ...error.details, step: renumber(failedAt) } : error.details
      }
    }
  }
}

/**
 * The replay source for steps after `fromStep` of the parent (`parentRecord`: how the
 * parent stopped: a failure, or a wait, with the calls of the step it left uncommitted).
 */
export const replaySource = (
  graph: GraphDefinition,
  recorded: ReadonlyArray<Checkpoint>,
  fromStep: number,
  mutation: CounterfactualMutation,
  live: boolean,
  recordedBy?: ParentRecord
): ReplaySource => {
  // A replay without a mutation takes the parent's edits of its state as recorded; a
  // counterfactual fork replays the parent as if it had not made them.
  const exact = isEmptyMutation(mutation)
  const { parent, record: parentRecord } = exact ? { parent: recorded, record: recordedBy } : withoutEdits(recorded, recordedBy, fromStep)
  const calls = new Map<string, Array<CallRecord>>()
  // The step the parent left uncommitted (it failed, or asked part-way): its calls so far.
  // A fork that may call live retries the failed step's calls from each node's first failure
  // (the outage is over, the tool is fixed); an exact replay fails again as the parent did.
  // A counterfactual may avoid the failure: a call the failure cut off is then one the parent
  // never waited for (a divergence when waited for), not one that never answers.
  const failedAttempt = parentRecord?.error?.attempt
  const replayedFailure = failedAttempt === undefined ? undefined : live ? untilFailure(failedAttempt, failedNodes(parentRecord?.error)) : isEmptyMutation(mutation) ? failedAttempt : cutOff(failedAttempt)
  // A parent paused at a breakpoint asked nothing: its recording ends there, as a paused run's.
  const atBreakpoint = parentRecord?.waiting?.kind === "breakpoint"
  const waiting = atBreakpoint ? undefined : parentRecord?.waiting
  for (const attempt of [replayedFailure, waiting?.attempt]) {
    if (attempt !== undefined && attempt.step > fromStep && !parent.some((cp) => cp.step === attempt.step)) group(attempt.calls, attempt.step, calls)
  }
  // The answers interrupt nodes of that step were already given while the parent waited for another.
  const responses = new Map<string, unknown>()
  const answers = new Map<string, ReadonlyArray<unknown>>()
  if (waiting !== undefined && waiting !== null && waiting.step > fromStep) {
    for (const [node, given] of Object.entries(waiting.others ?? {})) {
      if (!graph.nodes.has(node) || given.length === 0) continue
      responses.set(`${waiting.step}:${node}`, given[given.length - 1])
      if (given.length > 1 && graph.nodes.get(node)!.waitsForInput === undefined) answers.set(`${waiting.step}:${node}`, given)
    }
  }
  const timeouts = new Map<number, ReadonlyArray<string>>()
  const edits = new Map<number, RecordedEdit>()
  const startedAt = new Map<number, { readonly frontier: string; readonly at: string }>()
  // An exact replay checks that every replayed step writes what the parent's did.
  // An exact replay checks that every replayed step writes what the parent's did, unless some
  // of the parent's steps ran under another graph (it was resumed with --accept-graph-hash).
  const sameGraph = parent.every((cp) => cp.step <= fromStep || cp.graph_hash === graph.graphHash)
  const writes = !live && isEmptyMutation(mutation) && sameGraph ? new Map<number, Checkpoint["writes"]>() : undefined
  for (const [i, cp] of parent.entries()) {
    if (cp.step <= fromStep) continue
    const before = parent[i - 1]
    if (before !== undefined && before.step === cp.step - 1) startedAt.set(cp.step, { frontier: before.next.join("\n"), at: cp.started_at })
    writes?.set(cp.step, cp.writes)
    if (cp.node === TIMEOUT_NODE) timeouts.set(cp.step, cp.next)
    if (cp.node === UPDATE_NODE) edits.set(cp.step, { node: cp.writes[0]?.node ?? UPDATE_NODE, update: cp.writes[0]?.update ?? {}, calls: cp.calls ?? [] })
    group([...(cp.calls ?? [])].sort((a, b) => a.seq - b.seq), cp.step, calls)
    consumed(graph, cp.step, cp.calls ?? [], cp.nodes, cp.writes, responses, answers)
  }
  // The answers the failed step's nodes had consumed: given again, it fails as the parent did.
  if (replayedFailure !== undefined && replayedFailure.step > fromStep && !parent.some((cp) => cp.step === replayedFailure.step)) {
    consumed(graph, replayedFailure.step, replayedFailure.calls, [], [], responses, answers)
  }
  return {
    calls,
    responses,
    answers,
    overrides: new Map(Object.entries(mutation.node_output_overrides) as Array<[string, State]>),
    writes,
    stateAt: writes === undefined ? undefined : onceThenRelease(parent),
    recordedRunId: parent[0]?.run_id,
    liveAfterFork: live,
    ...(waiting !== undefined && waiting !== null && waiting.step > fromStep && parentRecord?.run_id !== undefined
      ? { waitedAt: { runId: parentRecord.run_id, step: waiting.step } }
      : {}),
    ...(live && failedAttempt !== undefined && failedAttempt.step > fromStep && parentRecord?.run_id !== undefined
      ? { failedAt: { runId: parentRecord.run_id, step: failedAttempt.step } }
      : {}),
    timeouts,
    ...(edits.size > 0 ? { edits } : {}),
    timedOut: haltedByTimeout(parentRecord?.error, fromStep),
    divergence: divergedAgain(parentRecord?.error, fromStep, live),
    startedAt,
    lastStep: parent[parent.length - 1]?.step,
    endsAt: parentRecord?.run_id !== undefined && parentRecord.status !== undefined && (STOPPED_PART_WAY.has(parentRecord.status) || atBreakpoint || parentRecord.status === "awaiting-input")
      ? { runId: parentRecord.run_id, step: parent[parent.length - 1]?.step ?? 0, status: parentRecord.status }
      : undefined
  }
}

/**
 * The replay source of an existing fork — its parent's cassette after its fork step, and
 * its mutation's output overrides — so that a fork stopped part-way (paused, or its
 * process killed) continues against the recording when it is resumed, and re-derives the
 * replayed steps it had not committed yet.
 */
export const forkReplaySource = (
  graph: GraphDefinition,
  fork: RunRecord,
  liveAfterFork: boolean
): Effect.Effect<ReplaySource, CheckpointError, Checkpointer> =>
  Effect.gen(function*() {
    const checkpointer = yield* Checkpointer
    const parentRunId = fork.parent_run_id ?? ""
    const parent = yield* checkpointer.listCheckpoints(parentRunId)
    if (parent.length === 0) {
      return yield* new CheckpointError({ reason: "unknown-run", runId: parentRunId, message: `fork ${fork.run_id} needs its parent run '${parentRunId}', which has no checkpoints here` })
    }
    const mutation = yield* decodeMutation(fork.mutation ?? {}).pipe(
      Effect.mapError((e) => new CheckpointError({ reason: "corrupt-checkpoint", runId: fork.run_id, message: `the stored mutation of fork ${fork.run_id} is invalid: ${e.message}` }))
    )
    const parentRecord = yield* checkpointer.getRun(parentRunId)
    const source = replaySource(graph, parent, fork.fork_step ?? 0, mutation, liveAfterFork, Option.getOrUndefined(parentRecord))
    // The step the fork stopped in with child runs of its own: one it waits inside (forked
    // while its parent waited there), or, stopped part-way (paused, its process killed),
    // one its children had not finished.
    const waiting = fork.waiting
    if (waiting !== null && waiting !== undefined && typeof waiting.payload?.["child_run_id"] === "string") return ownChildren(graph, fork, source, waiting.step)
    // Where its children can be: a step of the parent that ran a `subgraph` or `map` node
    // (the fork's replayed steps may not be committed yet), or the one after its last.
    const linking = childNodes(graph)
    if (linking.size === 0) return source
    const steps = new Set([fork.last_step + 1, ...parent.filter((cp) => cp.step > (fork.fork_step ?? 0) && cp.nodes.some((n) => linking.has(n))).map((cp) => cp.step)])
    for (const step of steps) {
      for (const [id, kind] of linking) {
        const children = yield* stepChildren(checkpointer, { parentRunId: fork.run_id, parentStep: step, nodeId: id }, kind)
        // A child not ended goes on; so does a `map` step the fork stopped in between two
        // items (its children so far ended, the next not started): each is the fork's own.
        const unfinished = children.some((child) => !TERMINAL_STATUSES.has(child.status)) ||
          (kind === "map" && step === fork.last_step + 1 && children.length > 0)
        if (unfinished) return ownChildren(graph, fork, source, step)
      }
    }
    return source
  })

/** The nodes that start linked child runs (`subgraph`: one per step, `map`: one per item), with their kind. */
const childNodes = (graph: GraphDefinition): ReadonlyMap<string, "subgraph" | "map"> =>
  new Map([...graph.topology.nodes].flatMap(([id, node]) => (node.kind === "subgraph" || node.kind === "map" ? [[id, node.kind] as const] : [])))

/**
 * The fork's own child runs of `step` go on (its own answer goes into them, what they had
 * not replayed yet is replayed), even if the parent was answered since: the child calls of
 * that step are the fork's, not the parent's later recording.
 */
const ownChildren = (graph: GraphDefinition, fork: RunRecord, source: ReplaySource, step: number): ReplaySource => {
  const calls = new Map(source.calls)
  const responses = new Map(source.responses)
  for (const id of childNodes(graph).keys()) {
    calls.delete(`${step}:${id}`)
    responses.delete(`${step}:${id}`)
  }
  return { ...source, calls, responses, waitedAt: { runId: source.waitedAt?.runId ?? fork.parent_run_id ?? fork.run_id, step } }
}
