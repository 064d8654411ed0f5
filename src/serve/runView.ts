/**
 * A run record as the HTTP API shows it, the one projection `GET /v1/runs/{id}` and each
 * item of `GET /v1/runs` are built from: its error redacted (no stack frame, no server
 * path), its wait with its id, and never the graph file's path on the server.
 */
import type * as Schema from "effect/Schema"
import { type RunRecord } from "../checkpoint/models.js"
import { withWaitId } from "../checkpoint/waitId.js"
import { redactErrorRecord } from "../triggers/httpError.js"
import { RunFields } from "./StargraphApi.js"

/** A run's fields as the API shows them ({@link RunFields}). */
type RunFieldsView = Schema.Struct.Type<typeof RunFields>

/** The fields the API shows otherwise than the record keeps them. */
const DERIVED = ["steps", "error", "waiting"] as const

/** Every other field of {@link RunFields}: the record's field of that name, as it is (the type check: `RunRecord` has it, of a type the API's field takes). */
type Kept = Exclude<keyof typeof RunFields, (typeof DERIVED)[number]>

const KEPT = Object.keys(RunFields).filter((key): key is Kept => !(DERIVED as ReadonlyArray<string>).includes(key))

/** `record` as the API shows it (`RunFields` of `StargraphApi.ts`): everything but `final_state` and `takeovers`, which a single run's read adds. */
export const runFieldsOf = (record: RunRecord): RunFieldsView => ({
  ...(Object.fromEntries(KEPT.map((key) => [key, record[key]])) as { readonly [K in Kept]: RunRecord[K] }),
  steps: record.last_step,
  error: record.error === null ? null : redactErrorRecord(record.error),
  // Its id, also on a wait written before ids were kept.
  waiting: withWaitId(record.waiting)
})
