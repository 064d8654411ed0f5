/**
 * Run ids: `<prefix>-<uuid>`, where the UUID is version 7 (RFC 9562): its first 48 bits
 * are the creation time in milliseconds, the rest random. Ids made later sort later, so a
 * new run's rows land at the end of the run-keyed B-trees (`runs_history`'s key index,
 * `checkpoints`) instead of in a random page of them: fewer pages written per commit and
 * pages filled instead of split half-empty.
 *
 * @since 0.1.0
 */
import { randomUUID } from "node:crypto"

/** A new run id made at `millis` (ms since the epoch; not a finite number: 0): `<prefix>-<uuid v7>`. */
export const newRunId = (prefix: string, millis: number): string => {
  // A random version 4 UUID gives the random bits and the variant; the time and version replace the rest.
  const random = randomUUID()
  const time = (Number.isFinite(millis) ? Math.min(Math.max(0, Math.trunc(millis)), 0xffff_ffff_ffff) : 0).toString(16).padStart(12, "0")
  return `${prefix}-${time.slice(0, 8)}-${time.slice(8)}-7${random.slice(15)}`
}
