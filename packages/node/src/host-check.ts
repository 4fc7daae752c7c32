/**
 * The Host check against DNS rebinding (`ServeOptions.allowedHosts`): a page
 * on an attacker's name that DNS later points at 127.0.0.1 must not reach a
 * server on loopback. A connection that came in on a loopback address must
 * name a local host (an IP literal, `localhost`, `*.localhost`) or an
 * allowed one; connections on other addresses are not checked unless
 * `allowedHosts` is given.
 */
import type { IncomingMessage } from 'node:http'
import { isIP, type AddressInfo } from 'node:net'

/** The host name of a Host header, lower-cased, without port; IPv6 keeps its brackets. */
function hostnameOf(host: string | undefined): string | undefined {
  if (!host) return undefined
  try {
    return new URL(`http://${host}`).hostname
  } catch {
    return undefined
  }
}

/** Names that never go through DNS, so DNS rebinding cannot forge them. */
function isLocalName(hostname: string): boolean {
  return hostname === 'localhost' || hostname.endsWith('.localhost') || hostname.startsWith('[') || isIP(hostname) !== 0
}

/** A local address of 127.0.0.0/8 or ::1 (IPv4-mapped included). */
function isLoopback(address: string | undefined): boolean {
  if (!address) return false
  const v4 = address.startsWith('::ffff:') ? address.slice(7) : address
  return v4.startsWith('127.') || address === '::1'
}

/** An address that listens on every interface. */
function isWildcard(address: string): boolean {
  return address === '0.0.0.0' || address === '::' || address === '::ffff:0.0.0.0'
}

/**
 * The check for one server: `allowedHosts` as given to `serve()`, and the
 * server whose listening address tells whether a connection came in on
 * loopback.
 */
export function hostCheck(
  allowedHosts: readonly string[] | 'all' | undefined,
  server: { address(): AddressInfo | string | null; on?(event: 'listening', listener: () => void): unknown },
): (req: IncomingMessage) => boolean {
  // The listening address, read once (`address()` asks the OS: 2% of a handshake's server CPU,
  // measured) and again whenever the server starts listening anew.
  let bound: AddressInfo | string | null = null
  server.on?.('listening', () => (bound = null))
  /**
   * The connection came in on a loopback address. The address the server
   * listens on says so, unless it is a wildcard (`0.0.0.0`, `::`): only then
   * is the socket's own local address read, which Node keeps on the socket
   * for its lifetime (an object and a string per idle connection).
   */
  const reachedOnLoopback = (req: IncomingMessage): boolean => {
    bound ??= server.address()
    if (bound !== null && typeof bound === 'object' && !isWildcard(bound.address)) return isLoopback(bound.address)
    return isLoopback(req.socket.localAddress)
  }
  // The last Host header and its name: a server's clients nearly all send the same one, and
  // parsing it (`new URL`) is most of this check's cost per handshake.
  let lastHost: string | undefined
  let lastName: string | undefined
  return (req) => {
    if (allowedHosts === 'all') return true
    if (allowedHosts === undefined && !reachedOnLoopback(req)) return true
    const host = req.headers.host
    if (host !== lastHost) {
      lastName = hostnameOf(host)
      lastHost = host
    }
    const name = lastName
    if (name === undefined) return false
    if (isLocalName(name)) return true
    return allowedHosts !== undefined && allowedHosts.some((entry) => {
      const e = entry.toLowerCase()
      return e.startsWith('.') ? name === e.slice(1) || name.endsWith(e) : name === e
    })
  }
}
