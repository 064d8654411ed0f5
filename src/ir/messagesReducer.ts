/**
 * The `messages` reducer: a chat history, merged as LangGraph's `add_messages` merges it.
 * A written message whose `id` an earlier one has replaces it in place; any other is
 * appended; `{type: "remove", id}` (LangGraph's `RemoveMessage`) deletes the message with
 * that id, and `{type: "remove", id: "__remove_all__"}` clears the history before what
 * follows it in the write. Messages without an id are appended as they are: no id is
 * made up (a random one would differ in a replay).
 */
import * as Either from "effect/Either"
import { jsonEqual } from "./json.js"

/** The id of a remove that clears the history (LangGraph's `REMOVE_ALL_MESSAGES`). */
export const REMOVE_ALL = "__remove_all__"

type Message = { readonly [key: string]: unknown }

const isMessage = (u: unknown): u is Message => u !== null && typeof u === "object" && !Array.isArray(u)

const isRemove = (m: Message): boolean => m["type"] === "remove"

/** A message's id, undefined when it has none; Left with the problem when it is not a non-empty string. */
const idOf = (m: Message, at: string): Either.Either<string | undefined, string> => {
  const id = m["id"]
  if (id === undefined || id === null) return Either.right(undefined)
  return typeof id === "string" && id !== ""
    ? Either.right(id)
    : Either.left(`messages reducer: ${at} has id ${JSON.stringify(id)}; a message id is a non-empty string (or absent)`)
}

const kindOf = (value: unknown): string =>
  Array.isArray(value) ? "a list" : value === null ? "null" : typeof value === "object" ? "an object" : `a ${typeof value}`

/** Merge `incoming` (a list of messages and removes) into the history `current`; Left with the problem and its fix. */
export const addMessages = (current: unknown, incoming: unknown): Either.Either<ReadonlyArray<unknown>, string> => {
  const base = current === undefined || current === null ? [] : current
  if (!Array.isArray(base)) return Either.left("messages reducer: the current value is not a list of messages")
  if (!Array.isArray(incoming)) {
    return Either.left(`messages reducer: the write is ${kindOf(incoming)}, not a list of messages; write a list, e.g. [{"role": "assistant", "content": "…"}] for one message`)
  }
  // A remove-all keeps only what the write puts after it.
  let from = 0
  for (let i = 0; i < incoming.length; i++) {
    const m: unknown = incoming[i]
    if (isMessage(m) && isRemove(m) && m["id"] === REMOVE_ALL) from = i + 1
  }
  const merged: Array<unknown> = from > 0 ? [] : [...base]
  const position = new Map<string, number>()
  if (from === 0) {
    for (let i = 0; i < base.length; i++) {
      const m: unknown = base[i]
      if (!isMessage(m)) continue
      const id = idOf(m, `the current message [${i}]`)
      if (Either.isRight(id) && id.right !== undefined) position.set(id.right, i)
    }
  }
  const removed = new Set<string>()
  for (let i = from; i < incoming.length; i++) {
    const m: unknown = incoming[i]
    const at = `item [${i}]`
    if (!isMessage(m)) {
      return Either.left(`messages reducer: ${at} is ${kindOf(m)}, not a message; write an object such as {"role": "user", "content": ${JSON.stringify(m) ?? "\"…\""}}`)
    }
    const id = idOf(m, at)
    if (Either.isLeft(id)) return Either.left(id.left)
    if (isRemove(m)) {
      if (id.right === undefined) return Either.left(`messages reducer: ${at} is a remove without an id; write {"type": "remove", "id": "<the message's id>"}`)
      if (!position.has(id.right)) {
        return Either.left(`messages reducer: ${at} removes id '${id.right}', which no message has; remove an id the history holds (or "${REMOVE_ALL}" to clear it)`)
      }
      removed.add(id.right)
      continue
    }
    const index = id.right === undefined ? undefined : position.get(id.right)
    if (index !== undefined) {
      // A message written again after a remove in the same write takes its place back.
      merged[index] = m
      removed.delete(id.right!)
      continue
    }
    if (id.right !== undefined) position.set(id.right, merged.length)
    merged.push(m)
  }
  if (removed.size === 0) return Either.right(merged)
  return Either.right(merged.filter((m) => {
    const id = isMessage(m) ? m["id"] : undefined
    return !(typeof id === "string" && removed.has(id))
  }))
}

/**
 * The write that turns the history `seed` into `value` under this reducer (a subgraph's
 * history given back to its parent): the messages `value` changed or added, and a remove
 * for each seeded message it dropped. Undefined when no write does (a message it changed
 * or dropped has no id, or it reordered the history).
 */
export const messagesDelta = (seed: ReadonlyArray<unknown>, value: ReadonlyArray<unknown>): ReadonlyArray<unknown> | undefined => {
  const byId = new Map<string, unknown>()
  for (const m of seed) {
    const id = isMessage(m) ? m["id"] : undefined
    if (typeof id !== "string") return undefined
    byId.set(id, m)
  }
  const kept = new Set<string>()
  const delta: Array<unknown> = []
  for (const m of value) {
    const id = isMessage(m) ? m["id"] : undefined
    if (typeof id === "string" && byId.has(id)) {
      kept.add(id)
      if (!jsonEqual(byId.get(id), m)) delta.push(m)
    } else delta.push(m)
  }
  for (const id of byId.keys()) if (!kept.has(id)) delta.push({ type: "remove", id })
  const merged = addMessages(seed, delta)
  return Either.isRight(merged) && jsonEqual(merged.right, value) ? delta : undefined
}
