/**
 * Stale heartbeats: the rows of processes that were killed (a clean stop removes its own
 * row) and have not beaten for long. They are removed by `Checkpointer.sweepHeartbeats`
 * (a server's hourly sweep, see `Heartbeat`) and by `stargraph prune`, in SQL shared by
 * SQLite and PostgreSQL. The row of an owner that still owns a `running` run, or holds a
 * queue claim, always stays: its standing beat is what hands those runs over (an owner
 * with no row is never taken over automatically).
 */
import type { SqlError } from "@effect/sql/SqlError"
import * as Effect from "effect/Effect"
import type { HeartbeatStaleness } from "./Checkpointer.js"
import type { Statements } from "./connection.js"

/**
 * When another process's heartbeat is stale and may be removed: its beat has stood still,
 * by the database's clock, for longer than a day and than 100 of its leases (a lease is
 * at most a day). Such a process was killed long ago (a clean stop removes its row); the
 * row of one that still owns a `running` run or holds a queue claim stays whatever its age.
 */
export const STALE_HEARTBEAT: HeartbeatStaleness = { minMs: 86_400_000, leases: 100 }

/**
 * The rows to remove (`now`: the database's clock in ms, a `Dialect.nowMs`): four
 * parameters, `leases, minMs, leases, minMs`. The lease is widened before it is multiplied
 * (PostgreSQL's `integer` would overflow at 100 leases of a day).
 */
const staleWhere = (now: string) =>
  `FROM process_heartbeats
  WHERE beat_at < ${now} - CASE WHEN CAST(lease_ms AS bigint) * ? > ? THEN CAST(lease_ms AS bigint) * ? ELSE ? END
    AND owner NOT IN (SELECT owner FROM runs_history WHERE status = 'running' AND owner IS NOT NULL)
    AND owner NOT IN (SELECT claimed_by FROM pending_runs WHERE claimed_by IS NOT NULL)`

/**
 * Remove the stale heartbeats (or, `dryRun`, only read them) inside the caller's
 * transaction `db`; returns their owners.
 */
export const sweepStaleHeartbeats = (
  db: Statements,
  now: string,
  staleness: HeartbeatStaleness,
  dryRun = false
): Effect.Effect<ReadonlyArray<string>, SqlError> => {
  const params = [staleness.leases, staleness.minMs, staleness.leases, staleness.minMs]
  const rows = dryRun
    ? db.all<{ readonly owner: string }>(`SELECT owner ${staleWhere(now)} ORDER BY owner`, params)
    : db.all<{ readonly owner: string }>(`DELETE ${staleWhere(now)} RETURNING owner`, params)
  return Effect.map(rows, (found) => found.map((r) => r.owner).sort())
}
