/**
 * A query parameter a route does not take (`GET /v1/runs?graph=…`, `?statuss=…`,
 * `GET /v1/runs/{id}?fields=…`): refused like an unknown body field, naming the parameter
 * and the one it was likely meant as, rather than ignored (an ignored filter answers every
 * run as if it had matched; an ignored option does something else than asked).
 */
import { InputError } from "../errors.js"
import { closestChoice } from "../ir/didYouMean.js"

/**
 * The 400 for query parameter `name` on a route that takes `known`: the known parameter it
 * is spelt like or begins (`statuss` → `status`, `graph` → `graph_id`, `thread` →
 * `thread_id`), else remove it; the message lists the route's parameters.
 */
export const unknownQueryParameter = (name: string, known: ReadonlyArray<string>): InputError => {
  const meant = closestChoice(name, known)
  return new InputError({
    field: name,
    message: `unknown query parameter '${name}': this route takes ${known.length === 0 ? "none" : known.join(", ")}`,
    fix: meant !== undefined
      ? `did you mean '${meant}'? rename ?${name}= to ?${meant}= (unknown query parameters are refused)`
      : `remove the query parameter '${name}' (unknown query parameters are refused)`
  })
}

/** The names of the query parameters of request URL `url` (path and query, as a request carries it). */
const queryParameterNames = (url: string): ReadonlySet<string> => {
  const at = url.indexOf("?")
  return at < 0 ? new Set() : new Set(new URLSearchParams(url.slice(at + 1)).keys())
}

/**
 * The 400 for a request with a query string to a route that takes no query parameters,
 * naming its first parameter; undefined when it has none (`?` alone included).
 */
export const refuseAnyQuery = (url: string): InputError | undefined => {
  const [first] = queryParameterNames(url)
  return first === undefined ? undefined : unknownQueryParameter(first, [])
}
