/**
 * The server's side of the resume handshake (docs/protocol.md, "Resume"):
 * which subprotocol a resuming server selects, and what it does with a link
 * that selected `wirecall.resume.v1`. Its first frame is the client's HELLO:
 * a valid token for this identity and origin resumes its parked (or
 * half-open) session on the link (parking.ts keeps those); anything else
 * gets a fresh session, told why in the WELCOME. `serve()` (server.ts)
 * hands such links here and admits the fresh connections it gets back.
 */
import type { IncomingMessage } from 'node:http'
import { debugLog, type Limits, type Logger, type ResumeFailure } from '@wirecall/core'
import { BATCH_PROTOCOL, FirstFrame, RESUME_PROTOCOL, ResumableTransport, ResumeFrame, encodeControl, isControl, parseControl } from '@wirecall/core/internal'
import type { Connection } from './connection.js'
import type { ParkingLot, ResumeEntry } from './parking.js'
import { CloseCode, type WebSocketTransport } from './transport.js'

/** `wirecall:server`, as the rest of the server's handshakes. */
const debug = debugLog('wirecall:server')

/** With `resume`: resumable sessions when offered, otherwise batches, otherwise the first one offered (as without). */
export function selectResumeProtocol(protocols: Set<string>): string | false {
  if (protocols.has(RESUME_PROTOCOL)) return RESUME_PROTOCOL
  if (protocols.has(BATCH_PROTOCOL)) return BATCH_PROTOCOL
  for (const protocol of protocols) return protocol
  return false
}

/** What the resume handshake needs from the server that accepted the link. */
export interface ResumingServer<ClientService> {
  readonly parking: ParkingLot
  readonly limits: Limits
  readonly logger: Logger
  /**
   * Links between the upgrade and their first frame. The server counts them
   * against `maxConnections` like any handshake and `close()` cuts them;
   * `acceptResumable` removes each one at its first frame, close or deadline.
   */
  readonly awaitingHello: Set<WebSocketTransport>
  /** True once the server is closing: a HELLO then gets a close (going away) rather than a session. */
  isClosing(): boolean
  /** The connection of a fresh session over `transport` (the resume layer), not admitted yet. */
  connection(transport: ResumableTransport, identity: unknown): Connection<ClientService>
  /** Admit a fresh connection (count it, `onConnection`). */
  admitted(conn: Connection<ClientService>, req: IncomingMessage): void
}

/**
 * A link that selected `wirecall.resume.v1`: wait (within
 * `handshakeTimeoutMs`) for the HELLO, then resume the session its token
 * names or start a fresh one.
 */
export function acceptResumable<ClientService>(server: ResumingServer<ClientService>, raw: WebSocketTransport, req: IncomingMessage, identity: unknown): void {
  const origin = req.headers.origin ?? ''
  // A silent link must not hold a socket beyond maxConnections: until its first frame it holds a slot.
  server.awaitingHello.add(raw)
  const deadline = setTimeout(() => {
    server.awaitingHello.delete(raw)
    first.abandon()
    raw.terminate()
  }, server.limits.handshakeTimeoutMs)
  deadline.unref()
  const first: FirstFrame = new FirstFrame(raw, (frame, first) => {
    clearTimeout(deadline)
    // Its slot moves: to the fresh connection admitted below, or to nothing when it resumes one already counted.
    server.awaitingHello.delete(raw)
    const hello = isControl(frame) ? parseControl(frame) : undefined
    const closing = server.isClosing()
    if (hello?.kind !== ResumeFrame.HELLO || closing) {
      first.abandon()
      return raw.close(closing ? CloseCode.GOING_AWAY : CloseCode.PROTOCOL_ERROR, closing ? 'server shutting down' : 'expected a resume HELLO')
    }
    let lost: ResumeFailure | null = null
    if (hello.token !== null) {
      const found = server.parking.take(hello.token, identity, origin, hello.received)
      if (typeof found === 'object') {
        if (debug.enabled) debug(`connection ${found.conn.id} resumed from ${req.socket.remoteAddress ?? 'unknown'}`)
        const greeting = encodeControl({ kind: ResumeFrame.RESUMED, token: found.token, received: found.resumable.received })
        return found.resumable.attach(raw, hello.received, greeting, first)
      }
      lost = found
    }
    server.admitted(freshResumable(server, raw, first, identity, origin, lost), req)
  }, () => {
    clearTimeout(deadline)
    server.awaitingHello.delete(raw)
  })
}

/**
 * A new resumable session on `raw`, announced with WELCOME. In a scope of
 * its own: the closures the session keeps for its life must not hold the
 * upgrade request that `acceptResumable` sees.
 */
function freshResumable<ClientService>(
  server: ResumingServer<ClientService>, raw: WebSocketTransport, first: FirstFrame, identity: unknown, origin: string, lost: ResumeFailure | null,
): Connection<ClientService> {
  const { parking, logger } = server
  let entry: ResumeEntry | undefined
  const resumable = new ResumableTransport(server.limits, {
    linkLost: () => parking.park(entry!),
    buffered: (delta) => entry && parking.buffered(entry, delta),
    violation: (reason) => logger.warn(`[wirecall] closed a resumable session: ${reason}`),
  }, raw.peer)
  const conn = server.connection(resumable, identity)
  entry = parking.issue({ conn: conn as Connection<unknown>, resumable, identity, origin })
  resumable.attach(raw, 0, encodeControl({ kind: ResumeFrame.WELCOME, token: entry.token, lost }), first)
  return conn
}
