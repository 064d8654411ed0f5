/**
 * How the `std` network tools turn a host name into the addresses they check and then
 * connect to (see `httpFetch.ts`): the system resolver (`dns.lookup`, every address) by
 * default. A test provides {@link layer} to make a name resolve where it needs (a public
 * looking name to 127.0.0.1, a name that answers differently each time).
 */
import { lookup } from "node:dns/promises"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"

/** One resolved address. */
export interface ResolvedAddress {
  readonly address: string
  /** 4 or 6. */
  readonly family: number
}

/** Resolve a host name to all its addresses (a rejection is a failed lookup). */
export interface NetResolverShape {
  readonly resolve: (hostname: string) => Promise<ReadonlyArray<ResolvedAddress>>
}

/** The system resolver: `dns.lookup(hostname, { all: true, verbatim: true })`. */
export const system: NetResolverShape = {
  resolve: (hostname) => lookup(hostname, { all: true, verbatim: true })
}

/** The resolver the network tools use (default: {@link system}). */
export class NetResolver extends Context.Reference<NetResolver>()("stargraph/NetResolver", {
  defaultValue: (): NetResolverShape => system
}) {}

/** A Layer resolving names with `resolver`. */
export const layer = (resolver: NetResolverShape): Layer.Layer<NetResolver> => Layer.succeed(NetResolver, resolver)

/** Resolve `hostname` with the context's resolver. */
export const resolve = (hostname: string): Effect.Effect<ReadonlyArray<ResolvedAddress>, unknown> =>
  Effect.flatMap(NetResolver, (r) => Effect.tryPromise({ try: () => r.resolve(hostname), catch: (e) => e }))
