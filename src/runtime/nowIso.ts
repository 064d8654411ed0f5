/** The clock's time as an ISO 8601 string. */
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"

/** The current time (Effect `Clock`) as an ISO 8601 string. */
export const nowIso: Effect.Effect<string> = Effect.map(Clock.currentTimeMillis, (ms) => new Date(ms).toISOString())
