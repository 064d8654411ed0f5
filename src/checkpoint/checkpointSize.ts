/**
 * The size limit on one step's checkpoint. A graph whose state grows without bound (an
 * append reducer fed its own output doubles a field every step) would otherwise run the
 * process out of memory, or past what one JavaScript string or SQLite value can hold; the
 * built-in Checkpointers refuse such a checkpoint with a typed error instead, and the run
 * stops with its committed steps intact.
 */
import { CheckpointError } from "../errors.js"
import type { Checkpoint } from "./models.js"

/** Largest checkpoint accepted by default: 64 MiB of JSON text. */
export const DEFAULT_MAX_CHECKPOINT_BYTES = 64 * 1024 * 1024

/**
 * The checkpoint size limit: `given` when set, else `STARGRAPH_MAX_CHECKPOINT_BYTES` from
 * the environment, else {@link DEFAULT_MAX_CHECKPOINT_BYTES}.
 */
export const maxCheckpointBytes = (given?: number, env: { readonly [k: string]: string | undefined } = process.env): number => {
  if (given !== undefined) return given
  const fromEnv = Number(env["STARGRAPH_MAX_CHECKPOINT_BYTES"])
  return Number.isSafeInteger(fromEnv) && fromEnv > 0 ? fromEnv : DEFAULT_MAX_CHECKPOINT_BYTES
}

/**
 * `JSON.stringify(value)`, or undefined when the text would be longer than one string can
 * be (V8 refuses strings past about 512 MiB with a `RangeError`).
 */
export const encodeJson = (value: unknown): string | undefined => {
  try {
    return JSON.stringify(value)
  } catch (e) {
    if (e instanceof RangeError) return undefined
    throw e
  }
}

/**
 * Whether the JSON texts among `values` (the other values are not counted), whose lengths
 * in UTF-16 units add up to `length`, are over `limit` bytes in UTF-8, and their size in
 * bytes when it had to be counted: a UTF-16 unit is at most 3 bytes, so short texts are not
 * counted at all (every step's commit asks).
 */
export const overLimit = (values: ReadonlyArray<unknown>, length: number, limit: number): number | undefined => {
  if (length * 3 <= limit) return undefined
  let size = 0
  for (const value of values) if (typeof value === "string") size += Buffer.byteLength(value)
  return size > limit ? size : undefined
}

const bytes = (n: number): string => n.toLocaleString("en-US")

/** A part's size in bytes for the message, or infinite: too large to encode. */
const partSize = (value: unknown): number => {
  const text = encodeJson(value)
  return text === undefined ? Number.POSITIVE_INFINITY : Buffer.byteLength(text)
}

/**
 * The error for a checkpoint over `limit` (its encoded `size`, undefined when it could not
 * be encoded at all): names the step, the largest parts (state fields, the writes, the
 * recorded calls) and the nodes that wrote it; `creating`: a new run's checkpoint (its
 * inputs, or a fork's copied steps), so no run was created. Built only on failure, so it
 * may re-encode.
 */
export const checkpointTooLarge = (cp: Checkpoint, size: number | undefined, limit: number, creating = false): CheckpointError => {
  const parts: Array<readonly [string, number]> = [
    ...Object.entries(cp.state).map(([field, value]) => [`state.${field}`, partSize(value)] as const),
    ["writes", partSize(cp.writes)],
    ["delta", partSize(cp.delta)],
    ["calls", partSize(cp.calls ?? [])],
    ["facts", partSize(cp.facts ?? null)],
    ["rules", partSize(cp.rules ?? null)]
  ]
  const largest = parts.sort((a, b) => b[1] - a[1]).slice(0, 3)
    .map(([name, n]) => `${name} ${Number.isFinite(n) ? bytes(n) : "(too large to encode)"}`).join(", ")
  const writers = [...new Set(cp.writes.map((w) => w.node))]
  // A new run's id was never handed out: the error does not name it.
  const which = creating ? `step ${cp.step} of a new run` : `step ${cp.step} of run ${cp.run_id}`
  return new CheckpointError({
    reason: "checkpoint-too-large",
    ...(creating ? {} : { runId: cp.run_id }),
    ...(size !== undefined ? { size } : {}),
    limit,
    message: `${which}${writers.length > 0 && !creating ? ` (written by ${writers.join(", ")})` : ""}: its checkpoint is ` +
      `${size !== undefined ? `${bytes(size)} bytes of JSON` : "too large to encode as one string"}, over the limit of ${bytes(limit)}; ` +
      `largest parts: ${largest}. ` +
      (creating
        ? "The run was not created. Fix: pass smaller inputs (large data as a file path or an artifact id), or raise STARGRAPH_MAX_CHECKPOINT_BYTES"
        : "The step was not persisted; the run's committed steps are kept. Fix: keep large values out of the state (write them with a " +
          "write_artifact node and keep the artifact's id), and check for a field that grows every step (an append reducer fed its own " +
          "output doubles it); or raise STARGRAPH_MAX_CHECKPOINT_BYTES and resume the run")
  })
}
