/**
 * The in-memory Checkpointer where it keeps what the SQL stores keep beyond the contract
 * (`stargraph/testing` runs the contract over it in test/testing): runs created in list order.
 */
import * as Effect from "effect/Effect"
import { describe, it } from "vitest"
import * as MemoryCheckpointer from "../../src/checkpoint/MemoryCheckpointer.js"
import { expectCreatedInListOrder, writtenOutOfOrder } from "./conformance.js"

describe("MemoryCheckpointer", () => {
  it("never creates a run earlier than the run written before it, as the SQL stores do (record, listing, id)", async () => {
    expectCreatedInListOrder(await Effect.runPromise(writtenOutOfOrder.pipe(Effect.provide(MemoryCheckpointer.layer))))
  })
})
