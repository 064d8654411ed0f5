/**
 * Bounds on what a graph file may ask of the loader, so that hostile or runaway input
 * fails fast with a typed error instead of exhausting memory, the stack or the terminal.
 */

/** Largest graph file accepted by default: 1 MiB (real graphs are a few KB; YAML parsing runs at about 1 µs a byte, so the limit also bounds validation time). */
export const DEFAULT_MAX_GRAPH_BYTES = 1024 * 1024

/** Deepest nesting of mappings and sequences in a graph document. */
export const MAX_IR_DEPTH = 64

/** YAML aliases a document may expand (an alias bomb expands billions). */
export const MAX_YAML_ALIASES = 100

/**
 * The graph size limit: `maxBytes` when given, else `STARGRAPH_MAX_GRAPH_BYTES` from the
 * environment, else {@link DEFAULT_MAX_GRAPH_BYTES}.
 */
export const maxGraphBytes = (maxBytes?: number, env: { readonly [k: string]: string | undefined } = process.env): number => {
  if (maxBytes !== undefined) return maxBytes
  const fromEnv = Number(env["STARGRAPH_MAX_GRAPH_BYTES"])
  return Number.isSafeInteger(fromEnv) && fromEnv > 0 ? fromEnv : DEFAULT_MAX_GRAPH_BYTES
}

/** `a, b, c` for a short list; the first `max` and a count of the rest for a long one. */
export const listSome = (items: Iterable<string>, max = 10): string => {
  const all = [...items]
  if (all.length <= max) return all.join(", ")
  return `${all.slice(0, max).join(", ")}, … (${(all.length - max).toLocaleString("en-US")} more)`
}
