/**
 * A request handed to the cassette together with its canonical JSON text. A node kind
 * that builds its requests in a fixed shape (the language-model kinds: most of the text
 * is the same on every call) keeps the canonical text of the fixed parts and assembles
 * the rest, so the recorder hashes that text instead of checking and canonicalizing the
 * request again: the same hash, the same record.
 *
 * One slot, not a table: a kind registers the request right before it hands it to
 * `callEffect`, and the recorder takes it back by identity when it begins the call. Any
 * other request (or one whose slot was taken by another call in between) is checked and
 * canonicalized as usual.
 */

let slotRequest: object | undefined
let slotText = ""

/**
 * Register `canonical` as the canonical JSON text of `request`: exactly what
 * `canonicalPlainJson(request)` returns. The request must be JSON and must not change
 * afterwards.
 */
export const prepared = <A extends object>(request: A, canonical: string): A => {
  slotRequest = request
  slotText = canonical
  return request
}

/** The canonical text registered for `request` (once), if it is the one registered last. */
export const takeCanonical = (request: unknown): string | undefined => {
  if (slotRequest === undefined || request !== slotRequest) return undefined
  slotRequest = undefined
  return slotText
}
