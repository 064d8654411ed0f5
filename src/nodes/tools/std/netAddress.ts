/**
 * Which IP addresses (and host names) are not public: the ones a `net.fetch` grant without
 * a named host does not reach (see `httpFetch.ts` and docs/tools.md). Pure: no resolution
 * here, only the address arithmetic.
 */
import { isIP } from "node:net"

/** Why an address is not public (how a refusal names it). */
export type AddressClass =
  | "cloud metadata"
  | "loopback"
  | "private"
  | "link-local"
  | "shared (CGNAT)"
  | "unspecified"
  | "multicast"
  | "broadcast"
  | "reserved"

/** Host names of cloud metadata services, refused by name whatever they resolve to. */
export const METADATA_HOSTS: ReadonlyArray<string> = [
  "metadata.google.internal",
  "metadata.goog",
  "metadata",
  "instance-data",
  "instance-data.ec2.internal",
  "metadata.azure.internal"
]

type V4Range = readonly [base: string, prefix: number, cls: AddressClass]

/** IPv4 ranges that are not public, the most specific first. */
const V4: ReadonlyArray<V4Range> = [
  ["169.254.169.254", 32, "cloud metadata"], // AWS, GCP, Azure, OpenStack, …
  ["169.254.170.2", 32, "cloud metadata"], // AWS ECS task metadata
  ["100.100.100.200", 32, "cloud metadata"], // Alibaba Cloud
  ["168.63.129.16", 32, "cloud metadata"], // Azure WireServer
  ["0.0.0.0", 8, "unspecified"],
  ["127.0.0.0", 8, "loopback"],
  ["10.0.0.0", 8, "private"],
  ["172.16.0.0", 12, "private"],
  ["192.168.0.0", 16, "private"],
  ["169.254.0.0", 16, "link-local"],
  ["100.64.0.0", 10, "shared (CGNAT)"],
  ["192.0.0.0", 24, "reserved"], // IETF protocol assignments (Oracle Cloud's metadata is 192.0.0.192)
  ["192.0.2.0", 24, "reserved"], // documentation
  ["198.18.0.0", 15, "reserved"], // benchmarking
  ["198.51.100.0", 24, "reserved"], // documentation
  ["203.0.113.0", 24, "reserved"], // documentation
  ["224.0.0.0", 4, "multicast"],
  ["255.255.255.255", 32, "broadcast"],
  ["240.0.0.0", 4, "reserved"]
]

const v4Number = (address: string): number =>
  address.split(".").reduce((n, part) => n * 256 + Number(part), 0)

const inV4 = (n: number, base: string, prefix: number): boolean => {
  const size = 2 ** (32 - prefix)
  return Math.floor(n / size) === Math.floor(v4Number(base) / size)
}

const classifyV4Number = (n: number): AddressClass | undefined =>
  V4.find(([base, prefix]) => inV4(n, base, prefix))?.[2]

/** An IPv6 address as its eight 16-bit groups (an embedded dotted IPv4 tail included), or undefined. */
const v6Groups = (address: string): ReadonlyArray<number> | undefined => {
  let text = address.replace(/%.*$/, "") // a zone index (`fe80::1%eth0`)
  const dotted = /(\d+\.\d+\.\d+\.\d+)$/.exec(text)
  if (dotted !== null) {
    const n = v4Number(dotted[1]!)
    text = `${text.slice(0, dotted.index)}${(n >>> 16).toString(16)}:${(n & 0xffff).toString(16)}`
  }
  const halves = text.split("::")
  if (halves.length > 2) return undefined
  const parse = (part: string) => (part === "" ? [] : part.split(":").map((g) => parseInt(g, 16)))
  const head = parse(halves[0]!)
  const tail = halves.length === 2 ? parse(halves[1]!) : []
  const fill = 8 - head.length - tail.length
  if (halves.length === 1 ? fill !== 0 : fill < 0) return undefined
  const groups = [...head, ...Array<number>(halves.length === 2 ? fill : 0).fill(0), ...tail]
  return groups.some((g) => Number.isNaN(g)) ? undefined : groups
}

const classifyV6 = (address: string): AddressClass | undefined => {
  const g = v6Groups(address)
  if (g === undefined) return "reserved"
  const [g0, g1, g2, g3, g4, g5, g6, g7] = g as [number, number, number, number, number, number, number, number]
  const zeroTo = (k: number) => g.slice(0, k).every((x) => x === 0)
  const tailV4 = g6 * 65536 + g7
  if (zeroTo(8)) return "unspecified"
  if (zeroTo(7) && g7 === 1) return "loopback"
  // An IPv4 address inside an IPv6 one: IPv4-mapped (::ffff:a.b.c.d), IPv4-compatible
  // (::a.b.c.d), IPv4-translated (::ffff:0:a.b.c.d) and NAT64 (64:ff9b::a.b.c.d) carry it in
  // the last 32 bits, 6to4 (2002:aabb:ccdd::) in bits 16–48: the IPv4 address decides.
  if (zeroTo(5) && (g5 === 0xffff || g5 === 0)) return classifyV4Number(tailV4)
  if (zeroTo(4) && g4 === 0xffff && g5 === 0) return classifyV4Number(tailV4)
  if (g0 === 0x64 && g1 === 0xff9b && g2 === 0 && g3 === 0 && g4 === 0 && g5 === 0) return classifyV4Number(tailV4)
  if (g0 === 0x2002) return classifyV4Number(g1 * 65536 + g2)
  if (g0 === 0xfd00 && g1 === 0x0ec2 && g2 === 0 && g3 === 0 && g4 === 0 && g5 === 0 && g6 === 0 && g7 === 0x254) return "cloud metadata" // AWS IMDS over IPv6
  if ((g0 & 0xfe00) === 0xfc00) return "private" // unique-local fc00::/7
  if ((g0 & 0xffc0) === 0xfe80) return "link-local" // fe80::/10
  if ((g0 & 0xffc0) === 0xfec0) return "private" // site-local fec0::/10 (deprecated)
  if ((g0 & 0xff00) === 0xff00) return "multicast"
  if (g0 === 0x0100 && g1 === 0 && g2 === 0 && g3 === 0) return "reserved" // discard 100::/64
  if (g0 === 0x2001 && g1 === 0x0db8) return "reserved" // documentation
  if (g0 === 0) return "reserved" // the rest of ::/8
  return undefined
}

/**
 * Why the IP address `address` (IPv4 dotted or IPv6, without brackets) is not public, or
 * undefined when it is. Anything that is not an IP address is `reserved`: only addresses
 * are classified here.
 */
export const classify = (address: string): AddressClass | undefined => {
  const bare = address.startsWith("[") && address.endsWith("]") ? address.slice(1, -1) : address
  switch (isIP(bare)) {
    case 4:
      return classifyV4Number(v4Number(bare))
    case 6:
      return classifyV6(bare)
    default:
      return "reserved"
  }
}

/** Whether the host name `host` (lower case, no trailing dot needed) names a metadata service. */
export const isMetadataHost = (host: string): boolean => METADATA_HOSTS.includes(host.toLowerCase().replace(/\.$/, ""))
