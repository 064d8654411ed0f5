/** The client's address behind trusted reverse proxies (`X-Forwarded-For`). */
import * as Either from "effect/Either"
import { describe, expect, it } from "vitest"
import { clientAddress, trustedProxies } from "../../src/serve/clientAddress.js"

const trusted = (entries: ReadonlyArray<string>) => Either.getOrThrow(trustedProxies(entries))

describe("clientAddress", () => {
  const proxies = trusted(["10.0.0.0/8", "192.168.1.7", "fd00::/8"])

  it("believes X-Forwarded-For only from a trusted peer", () => {
    expect(clientAddress("10.1.2.3", "203.0.113.9", proxies)).toBe("203.0.113.9")
    expect(clientAddress("198.51.100.4", "203.0.113.9", proxies)).toBe("198.51.100.4")
    expect(clientAddress("10.1.2.3", "203.0.113.9", undefined)).toBe("10.1.2.3")
    expect(clientAddress("10.1.2.3", undefined, proxies)).toBe("10.1.2.3")
  })

  it("takes the rightmost address that is not a trusted proxy, so a client cannot choose its own", () => {
    // The client sent "1.1.1.1" itself; the outer proxy appended the address it saw, then an inner one.
    expect(clientAddress("10.0.0.2", "1.1.1.1, 203.0.113.9, 192.168.1.7", proxies)).toBe("203.0.113.9")
    // Every hop a trusted proxy: the leftmost.
    expect(clientAddress("10.0.0.2", "10.9.9.9, 192.168.1.7", proxies)).toBe("10.9.9.9")
    // A hop that is not an address ends the walk at the last address before it.
    expect(clientAddress("10.0.0.2", "203.0.113.9, unknown, 10.3.3.3", proxies)).toBe("10.3.3.3")
    expect(clientAddress("10.0.0.2", " , ", proxies)).toBe("10.0.0.2")
  })

  it("reads IPv4 peers a dual-stack socket reports as IPv6, and IPv6 subnets", () => {
    expect(clientAddress("::ffff:10.0.0.2", "203.0.113.9", proxies)).toBe("203.0.113.9")
    expect(clientAddress("fd12::1", "2001:db8::5", proxies)).toBe("2001:db8::5")
    expect(clientAddress("2001:db8::1", "203.0.113.9", proxies)).toBe("2001:db8::1")
  })

  it("reads hops a proxy wrote with a port (10.0.0.1:5678, [2001:db8::1]:5678)", () => {
    expect(clientAddress("10.0.0.2", "203.0.113.9:5678", proxies)).toBe("203.0.113.9")
    expect(clientAddress("10.0.0.2", "[2001:db8::5]:443, 10.1.1.1:80", proxies)).toBe("2001:db8::5")
  })

  it("refuses an entry that is neither an address nor a subnet, naming it", () => {
    for (const entry of ["proxy.internal", "10.0.0.0/33", "10.0.0.0/", "10.0.0.0/8/1", "::1/129", "10.0.0.0/x"]) {
      const result = trustedProxies([entry])
      expect(Either.isLeft(result), entry).toBe(true)
      if (Either.isLeft(result)) {
        expect(result.left.field).toBe("trustedProxies")
        expect(result.left.message).toContain(`'${entry}'`)
      }
    }
  })
})
