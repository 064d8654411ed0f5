/** `STARGRAPH_TRACE_PLUGINS=1`: plugin registration and lifecycle events as JSON lines on stderr. */

/** True when plugin tracing is on. */
export const tracing = (): boolean => process.env["STARGRAPH_TRACE_PLUGINS"] === "1"

/** Write one trace event (a no-op unless tracing is on). */
export const trace = (event: string, fields: { readonly [key: string]: unknown }): void => {
  if (tracing()) process.stderr.write(`${JSON.stringify({ ts: new Date().toISOString(), event, ...fields })}\n`)
}
