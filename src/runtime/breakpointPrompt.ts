/** The prompt of a run paused at a breakpoint (its `waiting.prompt`). */

/**
 * What a breakpoint's wait says: `breakpoint before node 'n' (step 3, not run yet)`, or
 * `breakpoint after node 'n' (step 3, committed; <then>)`. Built from the wait's step
 * wherever that step is set (the run loop pausing, an edit of the paused run's state
 * moving it one step on), so the prompt always names the step the wait has.
 */
export const breakpointPrompt = (node: string, when: "before" | "after", step: number, then?: string): string =>
  `breakpoint ${when} node '${node}' (step ${step}${when === "after" ? ", committed" : ", not run yet"}${then !== undefined ? `; ${then}` : ""})`
