/**
 * A wait's id: what names the question a run waits at, wherever it is read (the run's
 * record, `stargraph inspect`, `GET /v1/runs/{id}`, the `run.waiting` event, the end id
 * of its SSE stream) and what an answer may name to be applied only to that question
 * (`respond --wait-id`, `wait_id` in `POST /v1/runs/{id}/respond`, `waitId` in
 * `graph.resume`). `w` and 12 hex digits of the hash of what it waits for: the node and
 * its kind (node, rule, breakpoint), the prompt and payload, how many answers the node
 * had consumed before it asked, and when it asked. A run waiting on a child run's
 * question keeps the child's id (the innermost question's), so one question has one id up
 * the chain; an edit of the run's state, which moves its wait one step on, keeps it.
 */
import { hashJson } from "../ir/hash.js"
import type { WaitingInfo } from "./models.js"

/** The shape of a wait id: `w` and 12 lowercase hex digits. */
export const WAIT_ID_PATTERN = /^w[0-9a-f]{12}$/

/** The id `waiting` gets when it is first written: derived from what it waits for. */
export const deriveWaitId = (waiting: WaitingInfo): string => {
  const identity = {
    node: waiting.node,
    kind: waiting.kind ?? "node",
    rule: waiting.rule ?? null,
    when: waiting.when ?? null,
    prompt: waiting.prompt,
    payload: waiting.payload ?? null,
    answers: waiting.answers?.length ?? 0,
    // When it asked tells two identical questions apart (a loop that comes back to the
    // node); a record without it (written before it was kept) has its step instead.
    asked: waiting.asked_at ?? waiting.step
  }
  return `w${hashJson(identity).slice("sha256:".length, "sha256:".length + 12)}`
}

/** The id of the wait `waiting`: the one it was written with, else (a record written before ids were kept) derived now. */
export const waitIdOf = (waiting: WaitingInfo): string => waiting.wait_id ?? deriveWaitId(waiting)

/** `waiting` with its id set (as it is shown and sent). */
export const withWaitId = <W extends WaitingInfo | null | undefined>(waiting: W): W =>
  (waiting === null || waiting === undefined || waiting.wait_id !== undefined ? waiting : { ...waiting, wait_id: waitIdOf(waiting) })
