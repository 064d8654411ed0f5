/**
 * The client's address behind reverse proxies. A request's peer is the proxy; the proxy
 * names the client in `X-Forwarded-For` (`client, proxy1, proxy2`, each hop appending the
 * address it received from). Only proxies the operator trusts are believed: the client is
 * the rightmost address in that list that is not a trusted proxy, so a client cannot pick
 * its own address (for rate limits, the audit log and run actors) by sending the header.
 */
import { BlockList, isIP } from "node:net"
import * as Either from "effect/Either"
import { InputError } from "../errors.js"

/** A set of trusted proxy addresses and subnets; `undefined` address → not trusted. */
export interface TrustedProxies {
  readonly has: (address: string) => boolean
}

/**
 * An address as `isIP` reads it: an IPv4 address written as IPv6 (`::ffff:10.0.0.1`, as
 * dual-stack sockets report it) as IPv4, and without the port some proxies append
 * (`10.0.0.1:5678`, `[2001:db8::1]:5678`) or brackets.
 */
const plain = (address: string): string => {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(address)
  if (mapped !== null) return mapped[1]!
  const v4WithPort = /^(\d+\.\d+\.\d+\.\d+):\d+$/.exec(address)
  if (v4WithPort !== null) return v4WithPort[1]!
  const bracketed = /^\[([^\]]+)\](?::\d+)?$/.exec(address)
  return bracketed !== null ? bracketed[1]! : address
}

/**
 * Parse `--trusted-proxy` values: IP addresses (`10.0.0.1`, `::1`) or subnets in CIDR form
 * (`10.0.0.0/8`, `fd00::/8`). An entry that is neither is an `InputError` naming it.
 */
export const trustedProxies = (entries: ReadonlyArray<string>): Either.Either<TrustedProxies, InputError> => {
  const list = new BlockList()
  for (const entry of entries) {
    const [address = "", prefix, extra] = entry.trim().split("/")
    const family = isIP(plain(address))
    const bits = prefix === undefined ? undefined : Number(prefix)
    const max = family === 4 ? 32 : 128
    if (family === 0 || extra !== undefined || (bits !== undefined && !(prefix !== "" && Number.isInteger(bits) && bits >= 0 && bits <= max))) {
      return Either.left(new InputError({
        field: "trustedProxies",
        message: `'${entry}' is not an IP address or a subnet`,
        fix: "give an address (10.0.0.1, ::1) or a CIDR subnet (10.0.0.0/8, fd00::/8)"
      }))
    }
    const type = family === 4 ? "ipv4" : "ipv6"
    if (bits === undefined) list.addAddress(plain(address), type)
    else list.addSubnet(plain(address), bits, type)
  }
  return Either.right({
    has: (address) => {
      const ip = plain(address)
      const family = isIP(ip)
      return family !== 0 && list.check(ip, family === 4 ? "ipv4" : "ipv6")
    }
  })
}

/**
 * The client's address: the peer's, unless the peer is a trusted proxy, in which case the
 * rightmost `X-Forwarded-For` entry that is not itself a trusted proxy (the leftmost when
 * all are). An entry that is not an IP address ends the walk there: the proxy that would
 * have written it is not one the server trusts to.
 */
export const clientAddress = (peer: string, forwardedFor: string | undefined, trusted: TrustedProxies | undefined): string => {
  if (trusted === undefined || forwardedFor === undefined || !trusted.has(peer)) return peer
  const hops = forwardedFor.split(",").map((hop) => plain(hop.trim())).filter((hop) => hop.length > 0)
  let client = peer
  for (let i = hops.length - 1; i >= 0; i--) {
    const hop = hops[i]!
    if (isIP(hop) === 0) break
    client = hop
    if (!trusted.has(hop)) break
  }
  return client
}
