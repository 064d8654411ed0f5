/**
 * A run's Server-Sent Events stream: ids and keep-alive.
 *
 * Ids for a run's events, the same whichever way the stream is made (a
 * run's live events, or its checkpoints read back) and whichever process drove it: the
 * last step the run had completed when the event happened (`7`), and `7.end` for the
 * event a stream ends with (finished, failed, cancelled, paused, waiting). A reconnect's
 * `Last-Event-ID` so says where the client is: {@link resumeAfter} drops what it has seen.
 */
import type * as Duration from "effect/Duration"
import * as Stream from "effect/Stream"
import { FINAL_EVENT_TYPES, type RunEvent } from "../runtime/events.js"

/** An event with its SSE id. */
export interface IdentifiedEvent {
  readonly id: string
  /** The last completed step when it happened. */
  readonly step: number
  readonly final: boolean
  readonly event: RunEvent
}

/** The last completed step after `event`, given the one before it. */
const stepAfter = (event: RunEvent, before: number): number =>
  event.type === "run.started" ? event.from_step : event.type === "step.completed" ? event.step : before

/** Each event of a run's stream with its id. */
export const identified = <E, R>(events: Stream.Stream<RunEvent, E, R>): Stream.Stream<IdentifiedEvent, E, R> =>
  Stream.mapAccum(events, 0, (before, event) => {
    const step = stepAfter(event, before)
    const final = FINAL_EVENT_TYPES.has(event.type)
    return [step, { id: final ? `${step}.end` : String(step), step, final, event }] as const
  })

/** Where a `Last-Event-ID` says the client is: after step `step`'s events, and past the final event when `ended`. */
export interface ResumePoint {
  readonly step: number
  readonly ended: boolean
}

/** A `Last-Event-ID` header as a resume point (undefined: none, or not one of these ids). */
export const parseLastEventId = (header: string | undefined): ResumePoint | undefined => {
  const m = header === undefined ? null : /^(\d+)(\.end)?$/.exec(header.trim())
  return m === null ? undefined : { step: Number(m[1]), ended: m[2] !== undefined }
}

/**
 * The events a client resuming at `from` has not seen: those of later steps, and the
 * final event of its step unless it saw it (a run stopped there that goes on later sends
 * its new events then).
 */
export const resumeAfter = <E, R>(events: Stream.Stream<IdentifiedEvent, E, R>, from: ResumePoint | undefined): Stream.Stream<IdentifiedEvent, E, R> =>
  from === undefined ? events : Stream.filter(events, (e) => e.step > from.step || (e.step === from.step && e.final && !from.ended))

/**
 * `stream` with `beat` added every `every` (not at the start): what keeps an idle SSE
 * connection open through proxies. It ends when `stream` does.
 */
export const withKeepAlive = <A>(every: Duration.Duration, beat: A) => <E, R>(stream: Stream.Stream<A, E, R>): Stream.Stream<A, E, R> =>
  Stream.merge(stream, Stream.map(Stream.tick(every), () => beat).pipe(Stream.drop(1)), { haltStrategy: "left" })
