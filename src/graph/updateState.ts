/**
 * Edit the state of a stopped run in place (LangGraph's `update_state`): a run paused, at
 * a breakpoint or waiting for an answer gets one write, applied through each field's
 * reducer as a node's write is, as a step of its own (`__update__`), and goes on from
 * where it stopped: the same frontier, the same wait (its question, an answer given and
 * not consumed yet), the same breakpoint. See docs/engine.md#editing-a-stopped-runs-state.
 */
import * as Effect from "effect/Effect"
import * as Either from "effect/Either"
import * as Option from "effect/Option"
import { Checkpointer } from "../checkpoint/Checkpointer.js"
import { type CallRecord, type Checkpoint, type RunRecord, type RunStatus, TERMINAL_STATUSES, UPDATE_NODE, type WaitingInfo } from "../checkpoint/models.js"
import { CheckpointError, InputError, RunStateError, StateValidationError } from "../errors.js"
import { writtenDelta } from "../ir/json.js"
import { listSome } from "../ir/limits.js"
import { declaredAs, declaredTypeFix, type State, undeclaredFieldFix } from "../ir/stateSchema.js"
import { breakpointPrompt } from "../runtime/breakpointPrompt.js"
import { forkAbove, forkDescendantEditRefusal } from "../runtime/forkDescendant.js"
import { requestHash } from "../runtime/Cassette.js"
import type { GraphDefinition } from "../runtime/GraphDefinition.js"
import { describeOwner, ownerAlive, ownerElsewhere } from "../runtime/owner.js"
import { applyWrites } from "../runtime/reducers.js"
import { stateCheck } from "../runtime/stateValidator.js"
import { stepChildren } from "../runtime/stepChildren.js"
import { nowIso } from "../runtime/RunLoop.js"
import { waitedChildId, waitedVia } from "../runtime/waitedChild.js"
import { AuditSink } from "../telemetry/AuditSink.js"

/** The call an edit step records: who made the edit, and who its write is attributed to. */
export const UPDATE_CALL = "state.update"

/** How to edit a stopped run's state. */
export interface UpdateStateOptions {
  /** Who edits (recorded with the edit step and on its audit line; default `library`). */
  readonly actor?: string | undefined
  /**
   * The node the write is attributed to in the step's `writes` (LangGraph's `as_node`);
   * default `__update__`. It must be a node of the graph. It names the writer and changes
   * nothing else: the run goes on from the frontier it stopped at, whatever node it names.
   */
  readonly asNode?: string | undefined
  /** How the caller spells `values` and `asNode` in an `InputError` (default `values`, `asNode`; HTTP: `values`, `as_node`). */
  readonly fields?: { readonly values: string; readonly asNode: string } | undefined
}

/** What an edit did: the step it added and the run's state after it. Wire format (HTTP), so snake_case. */
export interface StateUpdate {
  readonly run_id: string
  /** The run's status: as before the edit (`paused` or `awaiting-input`). */
  readonly status: RunStatus
  /** The edit's step (the run's last step before it + 1). */
  readonly step: number
  /** Who the write is attributed to (`__update__`, or `asNode`). */
  readonly node: string
  readonly state: State
  /** The fields the edit wrote, as they are after it. */
  readonly delta: State
  /** What the run waits for, as before the edit (at the next step). */
  readonly waiting: WaitingInfo | null
}

/** Why an edit is refused. */
export type UpdateStateError = CheckpointError | RunStateError | StateValidationError | InputError

/**
 * The wait of a run whose state was edited: it waits for the same thing, one step later
 * (the step its answer, or the node it paused before, now runs at). The calls its step
 * made before asking still answer that step again; the writes of the step's nodes that
 * had finished are not kept (they were made from the state before the edit: those nodes
 * run again, their unchanged calls answered from the attempt). A breakpoint after a step
 * names the step that ran, which the edit does not change.
 */
const afterEdit = (waiting: WaitingInfo | null): WaitingInfo | null => {
  if (waiting === null || (waiting.kind === "breakpoint" && waiting.when === "after")) return waiting
  const { attempt, ...rest } = waiting
  const step = waiting.step + 1
  return {
    ...rest,
    step,
    // A breakpoint's prompt names its step: it moves on with it.
    ...(waiting.kind === "breakpoint" && waiting.when !== undefined ? { prompt: breakpointPrompt(waiting.node, waiting.when, step) } : {}),
    ...(attempt !== undefined ? { attempt: { step: attempt.step + 1, calls: attempt.calls } } : {})
  }
}

const isRecord = (value: unknown): value is Record<string, unknown> =>
  value !== null && typeof value === "object" && !Array.isArray(value)

/**
 * Edit the state of run `runId` of `graph` in place: `values` are one write, applied
 * through each field's reducer (`messages` adds or replaces by id, `append` appends,
 * `replace` replaces…), checked against the state schema, and committed as a new step
 * (`__update__`) whose frontier, joins and parallel groups are the last step's. Only a
 * run that is `paused` or `awaiting-input` (a breakpoint, an interrupt), that no live
 * process holds, and that is neither a counterfactual fork nor a fork's child run (each
 * replays a recording step by step, which an edit would put a step off) is edited; the write is a compare-and-set on the run as read, so an
 * edit racing a resume, an answer or another edit either lands first or is refused
 * (`RunStateError`), never both. Nothing is written when it fails.
 */
export const updateState = (
  graph: GraphDefinition,
  runId: string,
  values: { readonly [field: string]: unknown },
  options: UpdateStateOptions = {}
): Effect.Effect<StateUpdate, UpdateStateError, Checkpointer> =>
  Effect.gen(function*() {
    const checkpointer = yield* Checkpointer
    const names = options.fields ?? { values: "values", asNode: "asNode" }
    const run: RunRecord = yield* Effect.flatMap(checkpointer.getRun(runId), Option.match({
      onNone: () => Effect.fail(new CheckpointError({ reason: "unknown-run", runId, message: `no run '${runId}' in this checkpoint database` })),
      onSome: Effect.succeed
    }))
    const refuse = (message: string) => new RunStateError({ runId, status: run.status, operation: "update-state", message })
    const overrideHint = `fork it with the state you want instead: stargraph replay ${runId} --from-step ${run.last_step} --mutation '{"state_overrides": {…}}' (POST /v1/runs/${runId}/counterfactual)`
    /** Who holds the run, for the message: a process of another host with how its lease stands (its heartbeat, read when there is one). */
    const holder = (owner: string) =>
      Effect.map(
        ownerElsewhere(owner) && checkpointer.heartbeats !== undefined ? checkpointer.heartbeats([owner]) : Effect.succeed(undefined),
        (rows) => describeOwner(owner, rows === undefined ? undefined : rows[0] ?? null)
      )
    // A fork's child run (or theirs), in any status it could go on from: the fork drives it
    // against its recording, which an edit step would put it a step off (as for the fork).
    if (run.parent_run_id !== null && run.derived_hash === null && (!TERMINAL_STATUSES.has(run.status) || run.status === "error")) {
      const fork = yield* forkAbove(checkpointer, run)
      if (fork !== undefined) return yield* forkDescendantEditRefusal(run, fork)
    }
    if (run.status !== "paused" && run.status !== "awaiting-input") {
      const by = run.owner === null ? "no process" : yield* holder(run.owner)
      return yield* refuse(
        run.status === "running" || run.status === "pending"
          ? `run ${runId} is ${run.status === "running" ? `running (driven by ${by})` : "queued (pending)"}; only a stopped run (paused, or awaiting input) can have its state edited: ` +
            `pause it first (Ctrl-C in the terminal that drives it, POST /v1/runs/${runId}/pause) or wait until it stops`
          : `run ${runId} is ${run.status}; only a stopped run (paused, or awaiting input) can have its state edited: ${overrideHint}`
      )
    }
    if (run.owner !== null && ownerAlive(run.owner)) {
      return yield* refuse(`run ${runId} is held by live process ${yield* holder(run.owner)}; nothing was written: wait for it, then edit the run again`)
    }
    if (run.graph_hash !== graph.graphHash) {
      return yield* new CheckpointError({
        reason: "graph-hash-mismatch",
        runId,
        expectedHash: run.graph_hash,
        actualHash: graph.graphHash,
        message: `run ${runId} was started with a different graph (${run.graph_id}): edit its state with the graph it ran with (the CLI's --graph <that graph.yaml>; a server started with it)`
      })
    }
    if (run.parent_run_id !== null && run.derived_hash !== null) {
      return yield* refuse(
        `run ${runId} is a counterfactual fork of ${run.parent_run_id}, which replays its parent's recording step by step; an edit would put it a step off that recording. ` +
          overrideHint
      )
    }
    const child = waitedChildId(run)
    if (child !== undefined) {
      return yield* refuse(
        `run ${runId} waits for its child run ${child} (${waitedVia(run.waiting)}), whose step it has not committed; an edit here would start that child again. ` +
          `Edit the child run's state instead (stargraph update-state ${child}), or answer it`
      )
    }
    // A paused run's uncommitted step may have child runs under way: resumed after an edit
    // (one step later), the step would start them again.
    for (const [nodeId, node] of graph.topology.nodes) {
      if (node.kind !== "subgraph" && node.kind !== "map") continue
      const [started] = yield* stepChildren(checkpointer, { parentRunId: runId, parentStep: run.last_step + 1, nodeId }, node.kind)
      if (started !== undefined) {
        return yield* refuse(
          `run ${runId} stopped inside step ${run.last_step + 1}, whose ${node.kind} node '${nodeId}' started child run ${started.run_id}; an edit here would start that child again. ` +
            "Resume the run until that step commits, or edit the child run's state instead"
        )
      }
    }
    if (!isRecord(values)) {
      return yield* new InputError({ field: names.values, message: `${JSON.stringify(values) ?? String(values)} is not an object of state fields`, fix: `pass the fields to write as an object, e.g. {"draft": "…"}` })
    }
    if (Object.keys(values).length === 0) {
      return yield* new InputError({ field: names.values, message: "names no state field: there is nothing to write", fix: `name at least one field of ${listSome(graph.state.fields.keys())}` })
    }
    const asNode: unknown = options.asNode
    if (asNode !== undefined && (typeof asNode !== "string" || !graph.topology.nodes.has(asNode))) {
      return yield* new InputError({
        field: names.asNode,
        message: `${typeof asNode === "string" ? `'${asNode}'` : JSON.stringify(asNode) ?? String(asNode)} is not a node of graph ${graph.id}`,
        fix: `name the node the write is attributed to: one of ${listSome(graph.topology.nodes.keys())} (or leave it out: ${UPDATE_NODE})`
      })
    }
    const writer = asNode ?? UPDATE_NODE
    const latest = yield* Effect.flatMap(checkpointer.latestCheckpoint(runId), Option.match({
      onNone: () => Effect.fail(new CheckpointError({ reason: "no-checkpoint", runId, message: `run ${runId} has no checkpoint to edit` })),
      onSome: Effect.succeed
    }))
    const step = latest.step + 1
    const invalid = (field: string, message: string, fix?: string) => {
      const top = field.split(/[.[]/)[0] ?? field
      const declared = graph.state.fields.get(top)
      return new StateValidationError({
        source: "state-update",
        field,
        step,
        message,
        fix: fix ?? (declared === undefined
          ? undeclaredFieldFix(top, graph.state.fields.keys())
          : `${declaredTypeFix(top, declaredAs(declared))}, which its reducer (${declared.reducer}) takes`)
      })
    }
    // One write, through each field's reducer, exactly as a node's write is merged.
    const writes = [{ node: writer, update: values }]
    const merged = applyWrites(latest.state, writes, graph.state.fields, step)
    if (Either.isLeft(merged)) return yield* invalid(merged.left.field, merged.left.message, merged.left._tag === "StateValidationError" ? merged.left.fix : undefined)
    // Checked as a step's writes are (the run's graph is this graph, so the fields not written were valid).
    const found = stateCheck(graph)(merged.right, writes)
    if (found !== undefined) return yield* invalid(found.field, `the state after the edit does not match the state schema: ${found.issue}`)
    const actor = options.actor ?? "library"
    const at = yield* nowIso
    const request = { actor, node: writer }
    const call: CallRecord = { node: UPDATE_NODE, seq: 0, name: UPDATE_CALL, request_hash: requestHash(UPDATE_CALL, request), request, response: null }
    const delta = writtenDelta(merged.right, writes)
    // Where the run goes on is the last step's: its frontier, joins, parallel groups and working memory.
    const checkpoint: Checkpoint = {
      run_id: runId,
      step,
      node: UPDATE_NODE,
      nodes: [UPDATE_NODE],
      state: merged.right,
      writes,
      delta,
      next: latest.next,
      joins: latest.joins,
      graph_hash: graph.graphHash,
      runtime_hash: graph.runtimeHash,
      parent_run_id: null,
      parent_step: latest.step,
      started_at: at,
      finished_at: at,
      duration_ms: 0,
      calls: [call],
      ...(latest.facts !== undefined ? { facts: latest.facts } : {}),
      ...(latest.groups !== undefined && latest.groups.length > 0 ? { groups: latest.groups } : {})
    }
    const waiting = afterEdit(run.waiting)
    yield* checkpointer.commitSteps([checkpoint], { waiting }, { expected: { status: run.status, owner: run.owner, step: latest.step } }).pipe(
      Effect.catchAll((error) =>
        error.reason !== "run-changed" ? Effect.fail(error) : Effect.flatMap(checkpointer.getRun(runId), (now) =>
          Effect.fail(refuse(
            `run ${runId} changed while its state was being edited (${run.status} at step ${latest.step} then, ` +
              `${Option.match(now, { onNone: () => "gone", onSome: (r) => `${r.status}${r.owner !== null ? `, driven by ${r.owner}` : ""} at step ${r.last_step}` })} now): ` +
              "a resume, an answer, another edit or a process taking the run over got there first; nothing was written: read it again"
          ))))
    )
    const audit = yield* AuditSink
    yield* audit.write({ ts: at, actor, event: "state.updated", run_id: runId, step, node: writer, status: run.status, delta })
    return { run_id: runId, status: run.status, step, node: writer, state: merged.right, delta, waiting }
  })
