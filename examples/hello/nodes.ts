/** Node functions for examples/hello: each returns the fields it updates. */
interface HelloState {
  readonly message: string
  readonly greeting?: string
  readonly rounds: number
  readonly log: ReadonlyArray<string>
}

/** One loop round: `rounds` adds 1 (reducer: add), `log` appends (reducer: append). */
export const count = (state: HelloState) => ({ rounds: 1, log: [`count ${state.rounds + 1}`] })

/** Final node: a one-line summary of the run. */
export const summarise = (state: HelloState) => ({
  summary: `${state.greeting} after ${state.rounds} rounds (${state.log.length} log entries)`,
  log: ["summarise"]
})
