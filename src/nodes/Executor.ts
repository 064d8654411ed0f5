/**
 * What a compiled node is to the run loop: an {@link Executor} from the state snapshot of
 * a step (and the step's cassette) to a {@link NodeOutcome}, and the types user code
 * sees: {@link NodeContext}, {@link NodeFunction}, {@link RouterFunction}.
 */
import type * as Effect from "effect/Effect"
import type { Checkpointer, RunCommit } from "../checkpoint/Checkpointer.js"
import type { CheckpointError, NodeExecutionError, ReplayDivergenceError, RunFailure } from "../errors.js"
import type { State } from "../ir/stateSchema.js"
import type { NodeCalls } from "./calls.js"

/** Options of {@link NodeContext.interrupt}. */
export interface InterruptOptions {
  /** Data shown with the prompt (`interrupt_payload`), JSON. */
  readonly payload?: { readonly [key: string]: unknown } | undefined
}

/** What a node function sees besides the state. */
export interface NodeContext extends NodeCalls {
  readonly runId: string
  readonly nodeId: string
  readonly step: number
  /** 1-based attempt number under a retry policy. */
  readonly attempt: number
  /**
   * Aborted when this attempt is interrupted: the run is cancelled, the node's `timeout_ms`
   * is reached, its parallel group's race is decided without it, or the run is stopped
   * from outside (a server shutting down). Its `reason` is a `DOMException` saying which
   * (`TimeoutError` for the timeout, else `AbortError`). Pass it on (`fetch(url, { signal:
   * ctx.signal })`) or stop when it fires: the run waits for the body to return (up to
   * `NodeAbortGrace`, 30 s by default) before it lets another run, or the retry, go.
   */
  readonly signal: AbortSignal
  /**
   * Ask a person for input, like LangGraph's `interrupt()`. The first time, the run stops
   * in `awaiting-input` with `prompt` (the step is not committed); when the run is resumed
   * with a response, the node runs again from its start and this call returns the
   * response. A node may ask several times: each call is answered in order. Answers are
   * recorded in the step's cassette, so replays and forks get the same ones.
   */
  readonly interrupt: (prompt: string, options?: InterruptOptions) => Promise<unknown>
  /**
   * Publish `data` (JSON) to whoever watches the run, now, as a `node.custom` run event
   * (LangGraph's custom stream writer): progress for a UI. Live only: not recorded, not
   * audited; a node replayed in a fork publishes again. Data that is not JSON throws a
   * `TypeError` naming where.
   */
  readonly emit: (data: unknown) => void
  /** `ctx.now()` as an Effect for Effect-based nodes: the same recorded call (`clock.now`). */
  readonly nowEffect: Effect.Effect<number, ReplayDivergenceError | NodeExecutionError>
  /** `ctx.random()` as an Effect: the same recorded call (`random`). */
  readonly randomEffect: Effect.Effect<number, ReplayDivergenceError | NodeExecutionError>
}

/**
 * The signature of a `function` node export: return an object of state updates (or
 * nothing), synchronously, as a Promise, or as an Effect. The Effect may need services
 * (`R`): it runs in the fiber that drives the run, so the services the app provides to
 * the Effect that calls `run.start()` (or to its Scheduler layer) are there; a missing one fails
 * the node with a `NodeExecutionError` naming it. Its typed error is kept as the
 * `NodeExecutionError`'s `error`.
 *
 * `S` types the state: with the state declared as an Effect Schema (`state_schema:
 * {module: ./state.ts, export: State}`), `NodeFunction<never, never, typeof State.Type>`
 * reads typed fields and may only return known fields with their types (a write to a
 * field with a reducer is what the reducer takes: a list of items to `append`, a number
 * to `add`). The types are the author's promise; the run still checks every write
 * against the declared schema.
 *
 * The Effect may also fail with {@link NodeContextError}, what `ctx.nowEffect`,
 * `ctx.randomEffect` and `ctx.callEffect` fail with: `NodeFunction<MyError>` takes a body
 * that uses them without declaring those errors.
 */
export type NodeFunction<E = unknown, R = never, S = State> = (
  state: S,
  ctx: NodeContext
) => NodeUpdate<S> | Promise<NodeUpdate<S>> | Effect.Effect<NodeUpdate<S>, E | NodeContextError, R>

/** What the recorded calls of a node's context (`ctx.nowEffect`, `ctx.randomEffect`, `ctx.callEffect`) fail with. */
export type NodeContextError = ReplayDivergenceError | NodeExecutionError

/** What a node function returns: some fields of the state, or nothing. */
export type NodeUpdate<S = State> = Partial<S> | void | undefined | null

/** A router export: return the next node id (or several, or `__end__`); `S` types the state as for {@link NodeFunction}. */
export type RouterFunction<S = State> = (state: S) => string | ReadonlyArray<string> | Promise<string | ReadonlyArray<string>>

/** A request for human input, from an `interrupt` node, `ctx.interrupt` or a child run. */
export interface InterruptRequest {
  readonly prompt: string
  /**
   * The state field the answer must fit (checked when it is given; "" for none). The node
   * writes it itself on the step that consumes it (the `interrupt` kind does; a rule's
   * `interrupt` action is written by the loop).
   */
  readonly responseField: string
  readonly payload?: { readonly [key: string]: unknown } | undefined
  /** The capability the answerer needs (`requested_capability`), recorded on the wait; not checked. */
  readonly requestedCapability?: string | undefined
  /** How many of the answers given so far the node consumed before asking again. */
  readonly answered: number
  /** How long to wait (ms) and what happens then: `halt` or `goto:<node>`. */
  readonly timeoutMs?: number | undefined
  readonly onTimeout?: string | undefined
  /**
   * The id of the question asked, when it is another run's (a child run's question its
   * parent asks on: the innermost question's id); else the wait's own is derived.
   */
  readonly waitId?: string | undefined
}

/** Result of executing one node. */
export type NodeOutcome =
  | { readonly _tag: "Update"; readonly update: State }
  | ({ readonly _tag: "Interrupt" } & InterruptRequest)

/** What the run loop hands a node besides the state. */
export interface NodeInput {
  readonly runId: string
  readonly nodeId: string
  readonly step: number
  /** The step recorder's calls for this node (live and unrecorded outside a run). */
  readonly calls: NodeCalls
  /** Answers given to this node's interrupts, in order (empty unless resuming one). */
  readonly answers: ReadonlyArray<unknown>
  /**
   * The `answers` are the recording's (a replay or fork), not given to this run: a node that
   * asks while it runs (`ctx.interrupt`) gets its recorded answers from its recorded
   * `interrupt` calls instead, which hold them only for the same question; a question the
   * recording never saw is asked.
   */
  readonly answersRecorded?: boolean | undefined
  /** The run's graph hash (a child run records it as its parent's). */
  readonly graphHash: string
  /**
   * Publish text a live call of this node streams, as a `node.delta` run event (absent
   * outside a run; a replayed call has nothing to stream).
   */
  readonly emitDelta?: ((text: string, node: string, step: number) => Effect.Effect<void>) | undefined
  /** Publish data a node gave `ctx.emit`, as a `node.custom` run event (absent outside a run: dropped). */
  readonly emitCustom?: ((data: unknown, node: string, step: number) => Effect.Effect<void>) | undefined
  /**
   * In a replay of the step the recorded run stopped at for input, or failed at in a fork
   * that may call live (uncommitted): the run whose child run of this node and step a
   * `subgraph` node's new child replays, up to the same question or failure.
   */
  readonly unfinishedChild?: UnfinishedChild | undefined
  /**
   * Whether the run is being cancelled (absent outside a run: no). A node that drives a
   * child run on its own fiber (a `subgraph`) cancels the child when its step is
   * interrupted for this reason, and leaves it paused for any other (a timeout, a shutdown).
   */
  readonly cancelling?: (() => boolean) | undefined
  /**
   * Where a child run this node drives (a `subgraph`) leaves its last commit when it ends,
   * for the step's commit to make (absent outside a run, or with a Checkpointer that
   * cannot make them together: the child commits its end itself). See `childCommits.ts`.
   */
  readonly childCommits?: ChildCommits | undefined
  /**
   * Report that this node's interrupted body did not return within the grace
   * (`NodeAbortGrace`): a `node.outlived` run event (absent outside a run).
   */
  readonly outlived?: ((node: string, step: number, reason: string, graceMs: number) => Effect.Effect<void>) | undefined
}

/**
 * Where a step's child runs leave their last commits, for the step's commit to make with
 * its own (see `runtime/childCommits.ts`).
 */
export interface ChildCommits {
  /** Hand over commits (a child's last, after its own children's) to be made with the step. */
  readonly defer: (commits: ReadonlyArray<HandedCommit>) => void
  /** Make the commits handed over so far, now (nothing when there are none). */
  readonly flush: Effect.Effect<void, CheckpointError>
}

/**
 * A commit a child run handed to its parent's step (see {@link ChildCommits}), and what the
 * child does once it is settled: the run events it held back until its end was durable
 * (its last `step.completed`, `run.finished`), or, when its end could not be written, a
 * `run.failed` with that error. Called once, after the commit was made or given up on.
 */
export interface HandedCommit {
  readonly commit: RunCommit
  readonly settled: (lost: CheckpointError | undefined) => Effect.Effect<void>
}

/** Where a replay's new child run finds the recorded child it replays. */
export interface UnfinishedChild {
  /** The recorded parent run: its child of this node and step has `childRunKey(parent, step, node)`. */
  readonly parentRunId: string
  /** The fork may answer what the recording cannot with live calls (`live_after_fork`). */
  readonly liveAfterFork: boolean
}

/** What an executor may fail with: an error that fails the run (most often `NodeExecutionError`). */
export type NodeFailure = RunFailure | CheckpointError

/** Services the run loop provides to every executor. */
export type NodeEnv = Checkpointer

/** A compiled node. */
export type Executor = (state: State, input: NodeInput) => Effect.Effect<NodeOutcome, NodeFailure, NodeEnv>

/** An update outcome. */
export const update = (value: State): NodeOutcome => ({ _tag: "Update", update: value })

/** The empty update (a node that writes nothing). */
export const NO_UPDATE: NodeOutcome = { _tag: "Update", update: {} }
