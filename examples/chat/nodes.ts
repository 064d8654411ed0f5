/** Node functions for examples/chat: an offline echo bot whose memory is the thread's state. */
interface Message {
  readonly role: "user" | "assistant"
  readonly content: string
}

interface ChatState {
  readonly say: string
  readonly messages: ReadonlyArray<Message>
  readonly turns: number
}

/** Adds what the user said to the conversation (the `messages` reducer appends it). */
export const listen = (state: ChatState) => ({ messages: [{ role: "user", content: state.say }] })

/** Echoes the user and recalls the earlier turns of the thread. */
export const answer = (state: ChatState) => {
  const earlier = state.messages.filter((m) => m.role === "user").slice(0, -1).map((m) => `"${m.content}"`)
  const reply = `You said "${state.say}" (turn ${state.turns + 1}).` +
    (earlier.length > 0 ? ` Earlier you said ${earlier.join(", ")}.` : " This is the start of our conversation.")
  return { reply, turns: 1, messages: [{ role: "assistant", content: reply }] }
}
