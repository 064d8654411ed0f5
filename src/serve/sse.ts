/**
 * A run's Server-Sent Events stream: ids and keep-alive.
 *
 * Ids for a run's events, the same whichever way the stream is made (a
 * run's live events, or its checkpoints read back) and whichever process drove it: the
 * last step the run had completed when the event happened (`7`: `run.started`,
 * `step.completed`); for the events of the step being run (`step.started`, `node.delta`,
 * `node.custom`, only in a live stream), that step and their place among them (`7.1`,
 * `7.2`, …), so a reconnect made while a step runs gets the ones it missed; and, for the event a
 * stream ends with, `7.end` where the run ended (finished, failed, cancelled) or
 * `7.end.<stop>` where it stopped and may go on: `paused`, or the wait id of what it waits
 * for (`w` and 12 hex digits of a hash of it; `waiting.wait_id` on the run's record). A run can stop several times at one step (paused, then waiting; a node that
 * asks again once answered), and each of those stops has its own id. A reconnect's
 * `Last-Event-ID` (or `?lastEventId=`, {@link lastEventIdOf}) so says where the client is:
 * {@link resumeAfter} drops what it has seen.
 */
import type * as Duration from "effect/Duration"
import * as Stream from "effect/Stream"
import type { RunRecord, WaitingInfo } from "../checkpoint/models.js"
import { waitIdOf } from "../checkpoint/waitId.js"
import { FINAL_EVENT_TYPES, type RunEvent } from "../runtime/events.js"

/** An event with its SSE id. */
export interface IdentifiedEvent {
  readonly id: string
  /** The last completed step when it happened. */
  readonly step: number
  /** Its place among the events of the step being run (1, 2, …); 0 for a step's own (`run.started`, `step.completed`) and a final event. */
  readonly seq: number
  readonly final: boolean
  /** For the event of a stop the run may go on from: which stop (see {@link stopOf}). */
  readonly stop?: string | undefined
  readonly event: RunEvent
}

/** What a run waiting for input waits for, as an id part: its wait id (`w` and 12 hex digits; see `checkpoint/waitId`). */
const waitTag = (waiting: WaitingInfo): string => waitIdOf(waiting)

/** Which stop a final event is, when the run may go on from it: `paused`, or what it waits for. */
const stopOf = (event: RunEvent): string | undefined =>
  event.type === "run.paused" ? "paused" : event.type === "run.waiting" ? waitTag(event.waiting) : undefined

/** Which stop a run is at (as {@link stopOf} names it), when it is paused or waiting for input. */
export const recordStop = (run: RunRecord): string | undefined =>
  run.status === "paused" ? "paused" : run.status === "awaiting-input" && run.waiting !== null ? waitTag(run.waiting) : undefined

/** The last completed step after `event`, given the one before it. */
const stepAfter = (event: RunEvent, before: number): number =>
  event.type === "run.started" ? event.from_step : event.type === "step.completed" ? event.step : before

/** Each event of a run's stream with its id. */
export const identified = <E, R>(events: Stream.Stream<RunEvent, E, R>): Stream.Stream<IdentifiedEvent, E, R> =>
  Stream.mapAccum(events, { step: 0, seq: 0 }, (before, event): readonly [{ readonly step: number; readonly seq: number }, IdentifiedEvent] => {
    const step = stepAfter(event, before.step)
    if (FINAL_EVENT_TYPES.has(event.type)) {
      const stop = stopOf(event)
      return [{ step, seq: before.seq }, { id: stop === undefined ? `${step}.end` : `${step}.end.${stop}`, step, seq: 0, final: true, stop, event }]
    }
    if (event.type === "run.started" || event.type === "step.completed") return [{ step, seq: 0 }, { id: String(step), step, seq: 0, final: false, event }]
    const seq = before.seq + 1
    return [{ step, seq }, { id: `${step}.${seq}`, step, seq, final: false, event }]
  })

/**
 * Where a `Last-Event-ID` says the client is: after step `step`'s events (and the first
 * `seq` events of the step run after it), and past the final event when `ended`: the
 * run's end, or the stop `stop`.
 */
export interface ResumePoint {
  readonly step: number
  readonly seq?: number | undefined
  readonly ended: boolean
  readonly stop?: string | undefined
}

/**
 * The `Last-Event-ID` a reconnecting client sent: the header, else the `lastEventId` query
 * parameter (its first value), which event-source-polyfill sends instead of the header;
 * undefined when neither is there.
 */
export const lastEventIdOf = (header: string | undefined, url: string): string | undefined => {
  if (header !== undefined) return header
  const at = url.indexOf("?")
  return at < 0 ? undefined : new URLSearchParams(url.slice(at + 1)).get("lastEventId") ?? undefined
}

/** A `Last-Event-ID` header as a resume point (undefined: none, or not one of these ids). */
export const parseLastEventId = (header: string | undefined): ResumePoint | undefined => {
  const text = header?.trim()
  const inStep = text === undefined ? null : /^(\d+)\.([1-9]\d*)$/.exec(text)
  if (inStep !== null) return { step: Number(inStep[1]), seq: Number(inStep[2]), ended: false, stop: undefined }
  const m = text === undefined ? null : /^(\d+)(\.end(?:\.(paused|w[0-9a-f]{12}))?)?$/.exec(text)
  return m === null ? undefined : { step: Number(m[1]), ended: m[2] !== undefined, stop: m[3] }
}

/**
 * The events a client resuming at `from` has not seen: those of later steps, those of the
 * step run after its step past the ones it saw (`seq`), and the final event of its step
 * unless it is the one it saw (the run's end, or the same stop; a run that stopped there
 * and went on may stop there again, or end there).
 */
export const resumeAfter = <E, R>(events: Stream.Stream<IdentifiedEvent, E, R>, from: ResumePoint | undefined): Stream.Stream<IdentifiedEvent, E, R> =>
  from === undefined
    ? events
    : Stream.filter(events, (e) =>
      e.step > from.step ||
      (e.step === from.step && (e.final ? !(from.ended && from.stop === e.stop) : e.seq > (from.seq ?? 0))))

/**
 * `stream` with `beat` added every `every` (not at the start): what keeps an idle SSE
 * connection open through proxies. It ends when `stream` does.
 */
export const withKeepAlive = <A>(every: Duration.Duration, beat: A) => <E, R>(stream: Stream.Stream<A, E, R>): Stream.Stream<A, E, R> =>
  Stream.merge(stream, Stream.map(Stream.tick(every), () => beat).pipe(Stream.drop(1)), { haltStrategy: "left" })
