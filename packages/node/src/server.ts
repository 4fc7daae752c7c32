/**
 * `serve()`: a wirecall server on its own port or on an existing
 * `http.Server`. Owns the connection lifecycle (handshake checks, heartbeat,
 * graceful close); all RPC logic lives in the core `Session`.
 */
import { createServer, type IncomingMessage, type Server as HttpServer } from 'node:http'
import type { Server as HttpsServer } from 'node:https'
import type { Duplex } from 'node:stream'
import { WebSocketServer, type WebSocket } from 'ws'
import { debugLog, describeService, jsonRpc, streams, type Broadcast, type Limits, type ServiceDescriber, type SessionOptions } from '@wirecall/core'
import {
  BATCH_PROTOCOL, RESUME_PROTOCOL, SharedBudget, encodeBroadcast, resolveLimits,
} from '@wirecall/core/internal'
import { Connection } from './connection.js'
import './debug-env.js'
import { Heartbeat } from './heartbeat.js'
import { hostCheck } from './host-check.js'
import { ParkingLot, type ResumeStats } from './parking.js'
import { acceptResumable, selectResumeProtocol, type ResumingServer } from './resume-handshake.js'
import { Topics, type Topic } from './topics.js'
import { nodeHandle, remoteHandle } from './remote-handle.js'
import type { Cluster, ConnectionHandle, NodeHandle, PresenceEntry } from './cluster.js'
import { CloseCode, WebSocketTransport } from './transport.js'

/** Options of `serve()`. Everything but `service` is optional. */
export interface ServeOptions<ClientService = unknown> extends Omit<SessionOptions, 'peer' | 'identity' | 'service' | 'reflection'> {
  /** The root service clients call. */
  readonly service: object
  /**
   * Answer the reserved method `rpc.describe` with the tree of exposed paths
   * (`describeService` from `@wirecall/core`; `describeRemote(client)` asks,
   * and so does `wirecall ls`). Hidden members stay hidden. A function is
   * installed as it is.
   * @default false: a public server need not publish its surface.
   */
  readonly reflection?: boolean | ServiceDescriber
  /**
   * Offer resumable sessions (`wirecall.resume.v1`, docs/protocol.md): when
   * a client that can resume drops, its session (references, topic
   * memberships, pending calls) is parked for `limits.resumeGraceMs` instead
   * of closed, and frames sent to it meanwhile are replayed when it comes
   * back. A parked connection stays in `connections` and `onClose` fires only
   * when it really ends; when the server holds `maxConnections`, the
   * longest-parked one is closed to admit a new client. Bounded by
   * `maxReplayBytes`, `maxReplayFrames`, `maxParkedSessions` and
   * `maxParkedBytes`; counted in `stats()`.
   * @default false: parking changes when `onClose` runs, so a server opts in.
   */
  readonly resume?: boolean
  /**
   * Select batches (`wirecall.batch.v1`: the frames of one turn as one
   * WebSocket message, docs/protocol.md) when a client offers them. `false`
   * answers such a client with one frame per message, as any msgpack-rpc
   * server would (for a proxy or a tool that inspects messages one by one).
   * Resumable sessions carry batches, so `resume: true` needs this on.
   * @default true
   */
  readonly batch?: boolean
  /** Interface to listen on (standalone mode). @default '127.0.0.1' */
  readonly host?: string
  /** Port to listen on; 0 picks a free one (read it back from `server.port`). @default 0 */
  readonly port?: number
  /**
   * Join a cluster of servers (e.g. `redisCluster({ url })` from `@wirecall/redis`): topics,
   * `all`, `to(ids)`, presence and `connection(id)` then reach every node's connections.
   */
  readonly cluster?: Cluster
  /** Attach to this existing server instead of listening (its port is yours to manage). */
  readonly server?: HttpServer | HttpsServer
  /** Only upgrade requests for this path (others get 404, or go to your other upgrade handlers). @default any path */
  readonly path?: string
  /**
   * Called for each new connection, after authentication. `request` is the
   * handshake (headers, cookies, URL); it is not kept afterwards, so copy what
   * you need (idle connections stay small).
   */
  onConnection?(conn: Connection<ClientService>, request: IncomingMessage): void | Promise<void>
  /**
   * Which pages may connect, by their Origin header: a list of origins
   * (`['https://app.example']`), a predicate, or `'*'` for any. Browsers
   * always send Origin, so a handshake without one (Node, Python and other
   * non-browser clients) passes a list; a predicate sees `undefined` and decides.
   * @default same origin: a browser's handshake is accepted only when its
   * Origin has the scheme, host and port of the connection (Host header; an
   * `http:` page for a plain connection, `https:` for TLS; an `https:` page may
   * also reach a plain listener behind a TLS-terminating proxy, an `http:` page
   * never reaches a TLS one). Without Origin: accepted.
   */
  readonly allowedOrigins?: readonly string[] | ((origin: string | undefined) => boolean) | '*'
  /**
   * Host names clients may use in the Host header, against DNS rebinding (a
   * page of `evil.example` whose name is made to resolve to 127.0.0.1 is
   * "same origin" with itself). IP literals, `localhost` and `*.localhost` are
   * always allowed (no DNS is involved). Entries are names without port; one
   * starting with `.` allows the domain and its subdomains (`.app.example`).
   * Anything else is refused with 403. `'all'` turns the check off.
   * @default on a connection that reached a loopback address (127.0.0.0/8,
   * ::1), only IP literals, `localhost` and `*.localhost`; elsewhere no check
   * (a public server's names are not known). With a list, it is checked on
   * every connection.
   */
  readonly allowedHosts?: readonly string[] | 'all'
  /**
   * Authenticate the handshake (cookies, headers, query). Return the identity
   * (available as `conn.identity` and `ctx.identity`): an object, a non-empty
   * string, a non-zero number or `true`. A falsy result (`undefined`, `null`,
   * `false`, `0`, `''`, `NaN`, `0n`), a throw or a rejection refuses with HTTP
   * 401, so `token && lookup(token)` with an empty token lets no one in.
   */
  authenticate?(request: IncomingMessage): unknown
}

/**
 * A running server, as returned by `serve()`. `ClientService` types what the
 * server may call on every client (`conn.remote`, topics' `notify`).
 *
 * @example
 * ```ts
 * const server = await serve<Page>({ port: 0, service: api })
 * console.log(`listening on ws://127.0.0.1:${server.port}`)
 *
 * server.all.notify.announce('maintenance at 6')            // every connection
 * server.to([...server.connections].slice(0, 2)).notify.ping()
 * console.log(server.topics(), server.droppedNotifications)
 *
 * process.once('SIGTERM', () => server.close())            // graceful: bounded by closeTimeoutMs
 * ```
 */
export interface WirecallServer<ClientService = unknown> {
  /** The port actually listened on (useful with `port: 0`). */
  readonly port: number
  /** Live connections. */
  readonly connections: ReadonlySet<Connection<ClientService>>
  /** A named group of connections: `server.topic('prices').notify.onPrice(p)`. */
  topic(name: string): Topic<ClientService>
  /** Topic names with at least one member. */
  topics(): string[]
  /** An explicit receiver list: connections, or connection ids anywhere in the cluster: `server.to([a, b]).notify.ping()`. */
  to(receivers: Iterable<Connection<ClientService> | string>): Broadcast<ClientService>
  /** Every connection (of every node, with a cluster). */
  readonly all: Broadcast<ClientService>
  /**
   * A connection by id, wherever it is: the local `Connection`, or (with a cluster) a handle
   * whose calls travel to the node that holds it. Calls to an id that is gone reject with
   * `ConnectionClosedError`.
   */
  connection(id: string): ConnectionHandle<ClientService>
  /** Every connection: of the cluster, or of this server without one. */
  presence(): Promise<PresenceEntry[]>
  /** One connection by id (of the cluster, or of this server), or undefined. */
  lookup(id: string): Promise<PresenceEntry | undefined>
  /**
   * The service another node offers (`redisCluster({ nodeService })`), by node id; without an id,
   * each call goes to any live node that offers the method. Pages never reach these services.
   */
  node<NodeService = unknown>(id?: string): NodeHandle<NodeService>
  /** This node's id in its cluster (undefined without one). */
  readonly nodeId: string | undefined
  /** Notifications skipped because a member was slow or closed. */
  readonly droppedNotifications: number
  /** Counters of this server: connections, and (with `resume`) parked sessions and resumes. */
  stats(): ServerStats
  /**
   * Graceful shutdown: stop accepting, let running handlers finish, close
   * every connection, then resolve. Bounded by `limits.closeTimeoutMs`: at
   * the deadline, remaining sockets are terminated (their calls reject with
   * `ConnectionClosedError`, handlers' signals fire).
   */
  close(): Promise<void>
}

/** `server.stats()`. */
export interface ServerStats extends ResumeStats {
  /** Connections, parked ones included. */
  readonly connections: number
}

/**
 * The path of a request-target, or undefined when it cannot be parsed.
 * `new URL()` throws on targets such as `//` or `//[`, and a throw inside the
 * http server's 'upgrade' listener is an uncaught exception that takes the
 * process down.
 */
function pathnameOf(url: string | undefined): string | undefined {
  try {
    return new URL(url ?? '/', 'http://x').pathname
  } catch {
    return undefined
  }
}

/**
 * Several wirecall servers may share one http.Server at different paths.
 * `wirecallListeners` are their upgrade listeners and `claimed` the requests
 * one of them took, so that when only wirecall servers listen, the last one
 * refuses a path none of them serves (404) instead of every one leaving it to
 * "another handler" and the socket hanging open forever.
 */
const wirecallListeners = new WeakSet<Function>()
const claimed = new WeakSet<IncomingMessage>()

/** Refused-origin handshakes logged per server; more are only refused (a hostile page could flood the log). */
const MAX_LOGGED_REFUSALS = 10

/** `DEBUG=wirecall:server`: handshakes refused (with the HTTP status), connections opened and closed. */
const debug = debugLog('wirecall:server')

/**
 * Same origin: the Origin's host and port are the Host header's, and its
 * scheme fits the connection (`tls`: the socket is TLS). An `https:` page on a
 * plain connection is a TLS-terminating proxy in front; an `http:` page on a
 * TLS connection is an insecure page riding a secure endpoint: refused.
 */
function sameOrigin(origin: string, host: string | undefined, tls: boolean): boolean {
  if (host === undefined) return false
  try {
    const page = new URL(origin)
    if (page.protocol !== 'https:' && (page.protocol !== 'http:' || tls)) return false
    // Parsed with the page's scheme so that a default port written out (`h:443`) compares equal.
    return page.host === new URL(`${page.protocol}//${host}`).host
  } catch {
    return false // `null` (sandboxed frames, file:) and anything unparsable
  }
}

/** A promise, or any thenable (what an async `authenticate` returns). */
function isThenable(value: unknown): value is PromiseLike<unknown> {
  return (typeof value === 'object' || typeof value === 'function') && value !== null && typeof (value as PromiseLike<unknown>).then === 'function'
}

function destroySocket(this: Duplex): void {
  this.destroy()
}

/**
 * The subprotocol answered at the handshake: batches when the client offers
 * them (docs/protocol.md, "Batches"), otherwise the first one offered, as
 * `ws` does by default (so a client's own subprotocol keeps working).
 */
function selectProtocol(protocols: Set<string>): string | false {
  if (protocols.has(BATCH_PROTOCOL)) return BATCH_PROTOCOL
  for (const protocol of protocols) return protocol
  return false
}

/** `batch: false`: a client's own subprotocol when it offers one, never batches. */
function selectUnbatched(protocols: Set<string>): string | false {
  for (const protocol of protocols) if (protocol !== BATCH_PROTOCOL && protocol !== RESUME_PROTOCOL) return protocol
  return false
}

/**
 * Start a wirecall server: on its own port (`host`, `port`), or on an
 * existing `http.Server` or `https.Server` (`server`, `path`). Resolves once
 * it listens. Binary frames speak msgpack-rpc, text frames JSON-RPC 2.0.
 *
 * @example
 * ```ts
 * import { createServer } from 'node:http'
 * import { service } from '@wirecall/core'
 * import { serve } from '@wirecall/node'
 *
 * const api = service({ add: (a: number, b: number) => a + b })
 *
 * // Standalone, on a port of its own:
 * const server = await serve({ host: '127.0.0.1', port: 8080, service: api })
 *
 * // Or on the http.Server of your app, at a path:
 * const http = createServer(app).listen(3000)
 * const rpc = await serve({
 *   server: http, path: '/rpc', service: api,
 *   allowedOrigins: ['https://app.example'],             // default: same origin only
 *   authenticate: (req) => sessions.get(cookieOf(req)),  // falsy or a throw: HTTP 401
 *   onConnection: (conn) => conn.join('news'),
 *   limits: { maxInFlightCalls: 256 },
 * })
 * ```
 */
export async function serve<ClientService = unknown>(options: ServeOptions<ClientService>): Promise<WirecallServer<ClientService>> {
  if (!options || typeof options.service !== 'object' || options.service === null) {
    throw new TypeError('serve: options.service is required (a service({...}) object, an exposed class instance or a Router)')
  }
  if (options.resume && options.batch === false) {
    throw new TypeError('serve: resume needs batches (resumable sessions carry them): drop batch: false, or resume')
  }
  const limits: Limits = resolveLimits(options.limits)
  const standalone = !options.server
  const http = options.server ?? createServer((_req, res) => {
    res.writeHead(426, { 'content-type': 'text/plain' }).end('wirecall: WebSocket upgrade required\n')
  })
  const wss = new WebSocketServer({
    noServer: true, maxPayload: limits.maxFrameBytes, perMessageDeflate: false, clientTracking: false,
    handleProtocols: options.resume ? selectResumeProtocol : options.batch === false ? selectUnbatched : selectProtocol,
  })
  const connections = new Set<Connection<ClientService>>()

  const heartbeat = new Heartbeat(limits)
  const logger = options.logger ?? console
  const parking = options.resume ? new ParkingLot(limits, logger) : undefined
  const path = options.path
  const exposeErrorStacks = options.exposeErrorStacks ?? process.env.NODE_ENV !== 'production'
  const redactErrors = options.redactErrors ?? process.env.NODE_ENV === 'production'
  // One options object for every connection: sessions share the configuration resolved from it.
  // The budget: counters of the server-wide limits (maxServerInFlightCalls, maxServerRefs) that all connections share.
  const sessionOptions: SessionOptions = {
    textFrames: jsonRpc, streams, ...options, exposeErrorStacks, redactErrors, limits, service: options.service, budget: SharedBudget.of(limits),
    reflection: options.reflection === true ? describeService : options.reflection || undefined,
  }
  const cluster = options.cluster
  const topics = new Topics<ClientService>(connections, sessionOptions, cluster)
  // When each connection connected, for presence; kept only in a cluster.
  const since = cluster ? new WeakMap<Connection<ClientService>, number>() : undefined
  const entryOf = (conn: Connection<ClientService>): PresenceEntry => ({
    id: conn.id, node: cluster?.nodeId ?? '', identity: conn.identity, topics: [...conn.topics], since: since?.get(conn) ?? 0,
  })
  if (cluster) {
    await cluster.attach({
      deliver: (target, frame) => topics.deliver(target, frame),
      connection: (id) => topics.local(id) as Connection | undefined,
      connections: () => connections as Set<Connection>,
      since: (conn) => since!.get(conn as Connection<ClientService>) ?? Date.now(),
      ...(options.observer ? { observer: options.observer } : {}),
    })
  }
  let closing: Promise<void> | undefined
  let originRefusals = 0
  let connectionRefusals = 0
  // Sockets between the upgrade request and admission (origin/auth checks).
  // close() refuses them at once rather than wait for each one's handshake
  // deadline (handshakeTimeoutMs, 10 s by default, longer than closeTimeoutMs),
  // which a hanging authenticate hook would reach.
  const handshaking = new Set<Duplex>()
  // With `resume`: links upgraded on wirecall.resume.v1 that have not sent their HELLO yet
  // (resume-handshake.ts keeps this set). They are handshakes too: counted, and cut by close().
  const awaitingHello = new Set<WebSocketTransport>()

  /** Answer a handshake with an HTTP error and drop the socket (returns nothing, so `return refuse(...)` ends a check). */
  const refuse = (socket: Duplex, status: number, text: string): undefined => {
    if (debug.enabled) debug(`refused a handshake from ${(socket as { remoteAddress?: string }).remoteAddress ?? 'unknown'}: ${status} ${text}`)
    if (socket.writable) socket.end(`HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`)
    socket.destroy()
    return undefined
  }

  const onUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    if (path !== undefined && pathnameOf(req.url) !== path) {
      // Leave it to another upgrade handler when there is one; refuse it when
      // we are the last listener and every listener is a wirecall server's.
      const listeners = http.listeners('upgrade')
      if (!claimed.has(req) && listeners[listeners.length - 1] === onUpgrade && listeners.every((l) => wirecallListeners.has(l))) {
        refuse(socket, 404, 'Not Found')
      }
      return
    }
    claimed.add(req)
    if (closing) return refuse(socket, 503, 'Service Unavailable')
    // Handshakes under way count too: a flood of slow handshakes is bounded like one of connections.
    // A parked session (no socket, waiting for its client) yields its slot to a live newcomer.
    if (connections.size + handshaking.size + awaitingHello.size >= limits.maxConnections && !parking?.evictOldest()) {
      if (++connectionRefusals <= MAX_LOGGED_REFUSALS) {
        logger.warn(`[wirecall] refused a connection: the server holds maxConnections (${limits.maxConnections})`)
      }
      return refuse(socket, 503, 'Service Unavailable')
    }
    socket.on('error', destroySocket)
    // admit() runs user hooks: a throw there must not become an uncaught exception or an
    // unhandled rejection (fatal under Node's default) nor leave the socket hanging.
    const failed = (err: unknown) => {
      logger.error('[wirecall] handshake failed:', err)
      refuse(socket, 500, 'Internal Server Error')
    }
    let pending: Promise<void> | undefined
    try {
      pending = admit(req, socket, head)
    } catch (err) {
      return failed(err)
    }
    // Only a handshake waiting for an async authenticate holds a slot, a deadline and close()'s attention.
    if (pending) pending.catch(failed).finally(guardHandshake(socket))
  }

  /**
   * Track a socket during its handshake (deadline, `close()` refusing it).
   * A separate scope on purpose: nothing here may keep the upgrade request
   * and its head buffer alive for the connection's life. No 'close' listener:
   * the handshake ends (admitted, refused, failed) or its deadline fires, and
   * either forgets the socket; a listener added and removed again would
   * leave the socket's 'close' listener array grown for good (about 150
   * bytes per idle connection).
   */
  const guardHandshake = (socket: Duplex): (() => void) => {
    handshaking.add(socket)
    const deadline = setTimeout(() => {
      handshaking.delete(socket)
      refuse(socket, 408, 'Request Timeout')
    }, limits.handshakeTimeoutMs)
    deadline.unref()
    return () => {
      clearTimeout(deadline)
      handshaking.delete(socket)
    }
  }

  /** The Host check against DNS rebinding (host-check.ts, `allowedHosts`). */
  const hostAllowed = hostCheck(options.allowedHosts, http)

  /** The Origin check; a predicate that throws refuses the handshake (fails closed, like authenticate). */
  const originAllowed = (req: IncomingMessage): boolean => {
    const origin = req.headers.origin
    const allowed = options.allowedOrigins
    if (allowed === '*') return true
    // Browsers always send Origin: a handshake without one is not a page riding on the user's cookies.
    if (origin === undefined && typeof allowed !== 'function') return true
    // Default: same origin only; a page of another site must not ride on the user's cookies
    // (cross-site WebSocket hijacking).
    if (allowed === undefined) return sameOrigin(origin!, req.headers.host, (req.socket as { encrypted?: boolean }).encrypted === true)
    if (typeof allowed !== 'function') return allowed.includes(origin!)
    try {
      return allowed(origin)
    } catch (err) {
      logger.error('[wirecall] allowedOrigins threw; refusing the handshake:', err)
      return false
    }
  }

  /**
   * The checks, then the upgrade. Synchronous unless `authenticate` returns a
   * promise: then it returns the promise of the rest (a synchronous hook admits
   * in the same tick, with no promise, timer or bookkeeping, as `ws`'s own
   * `verifyClient` does).
   */
  const admit = (req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> | undefined => {
    if (!hostAllowed(req)) {
      if (++originRefusals <= MAX_LOGGED_REFUSALS) {
        logger.warn(`[wirecall] refused a WebSocket for host ${req.headers.host} (origin ${req.headers.origin}): not a local name; set allowedHosts to allow it`)
      }
      return refuse(socket, 403, 'Forbidden')
    }
    if (!originAllowed(req)) {
      // Browsers show nothing useful for a refused handshake: say it here (first few only).
      if (++originRefusals <= MAX_LOGGED_REFUSALS) {
        logger.warn(`[wirecall] refused a WebSocket from origin ${req.headers.origin} (host ${req.headers.host}): set allowedOrigins to allow it`)
      }
      return refuse(socket, 403, 'Forbidden')
    }
    if (!options.authenticate) return upgrade(req, socket, head, undefined)
    let identity: unknown
    try {
      identity = options.authenticate(req)
    } catch {
      return refuse(socket, 401, 'Unauthorized')
    }
    if (isThenable(identity)) {
      return Promise.resolve(identity).then(
        (resolved) => upgrade(req, socket, head, resolved),
        () => refuse(socket, 401, 'Unauthorized'),
      )
    }
    return upgrade(req, socket, head, identity)
  }

  /** Authenticated (or no hook): refuse a falsy identity, else hand the socket to `ws`. */
  const upgrade = (req: IncomingMessage, socket: Duplex, head: Buffer, identity: unknown): undefined => {
    // Any falsy value refuses: `null` from a lookup that found no one, `''` from
    // `token && lookup(token)` with an empty token, 0 or NaN from a failed id parse.
    if (options.authenticate && !identity) return refuse(socket, 401, 'Unauthorized')
    if (socket.destroyed || closing) return refuse(socket, 503, 'Service Unavailable')
    wss.handleUpgrade(req, socket, head, (ws) => accept(ws, req, identity))
    return undefined
  }

  const accept = (ws: WebSocket, req: IncomingMessage, identity: unknown) => {
    // `ws` now owns the socket and handles its errors: our handshake-time listener goes, so that
    // an idle connection does not carry a second 'error' listener (and the array holding both).
    req.socket.off('error', destroySocket)
    // The peer address is read from the socket when first asked for, not stored per connection;
    // `req.socket` is the socket this server handed to `handleUpgrade`, which `ws` then owns.
    const transport = new WebSocketTransport(ws, req.socket, limits, { socket: req.socket, server: true })
    heartbeat.watch(transport)
    if (resuming && ws.protocol === RESUME_PROTOCOL) return acceptResumable(resuming, transport, req, identity)
    open(transport, req, identity)
  }

  const open = (transport: WebSocketTransport, req: IncomingMessage, identity: unknown) => {
    admitted(new Connection<ClientService>(transport, sessionOptions, topics, identity), req)
  }

  /** With `resume`: what the resume handshake (resume-handshake.ts) may do with this server. */
  const resuming: ResumingServer<ClientService> | undefined = parking && {
    parking, limits, logger, awaitingHello,
    isClosing: () => closing !== undefined,
    connection: (transport, identity) => new Connection<ClientService>(transport, sessionOptions, topics, identity),
    admitted: (conn, req) => admitted(conn, req),
  }

  const admitted = (conn: Connection<ClientService>, req: IncomingMessage) => {
    connections.add(conn)
    since?.set(conn, Date.now())
    topics.opened(conn)
    if (debug.enabled) {
      debug(`connection ${conn.id} from ${req.socket.remoteAddress ?? 'unknown'} (${connections.size} open)`)
      conn.onClose((reason) => debug(`connection ${conn.id} closed${reason ? `: ${reason.message}` : ''} (${connections.size} open)`))
    }
    // An async onConnection that rejects (a page without the method it calls, a client
    // that left at once) is logged; as an unhandled rejection it would end the process.
    const report = (err: unknown) => logger.error('[wirecall] onConnection failed:', err)
    try {
      const result: unknown = options.onConnection?.(conn, req)
      if (result && typeof (result as PromiseLike<unknown>).then === 'function') (result as PromiseLike<unknown>).then(undefined, report)
    } catch (err) {
      report(err)
    }
  }

  wirecallListeners.add(onUpgrade)
  http.on('upgrade', onUpgrade)
  if (standalone) {
    await new Promise<void>((resolve, reject) => {
      const server = http as HttpServer
      server.once('error', reject)
      server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => {
        server.off('error', reject)
        resolve()
      })
    })
  }

  const port = () => {
    const address = http.address()
    return typeof address === 'object' && address ? address.port : 0
  }

  const close = async () => {
    http.off('upgrade', onUpgrade)
    heartbeat.stop()
    // Parked sessions have no one to drain for: they end now.
    parking?.closeAll()
    for (const socket of handshaking) refuse(socket, 503, 'Service Unavailable')
    handshaking.clear()
    // Resume links still waiting for their HELLO have no session to drain: cut them now rather
    // than at their handshake deadline (the http server's close() would wait for their sockets).
    for (const link of awaitingHello) link.terminate()
    awaitingHello.clear()
    // One deadline for the whole shutdown: let running handlers finish, then
    // close every socket politely; whatever is left at the deadline is cut.
    const all = [...connections]
    let timer: NodeJS.Timeout | undefined
    const deadline = new Promise<void>((resolve) => {
      timer = setTimeout(resolve, limits.closeTimeoutMs)
    })
    // drain(): calls arriving from now on are refused with ShuttingDownError, running ones finish.
    await Promise.race([Promise.all(all.map((c) => c.drain())), deadline])
    const closed = Promise.all(all.map((c) => c.close(CloseCode.GOING_AWAY, 'server shutting down')))
    await Promise.race([closed, deadline])
    clearTimeout(timer)
    for (const c of all) if (!c.closed) c.terminate()
    await closed
    await cluster?.close()
    wss.close()
    if (standalone) {
      const server = http as HttpServer
      server.closeAllConnections?.()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    }
  }

  return {
    get port() {
      return port()
    },
    connections,
    topic: (name) => topics.topic(name),
    topics: () => topics.names(),
    to: (list) => topics.to(list),
    all: topics.all(),
    connection: (id) => topics.local(id) ?? remoteHandle<ClientService>(id, cluster, (path, args) => encodeBroadcast(path, args, sessionOptions)),
    presence: async () => (cluster ? cluster.presence() : [...connections].map(entryOf)),
    lookup: async (id) => {
      if (cluster) return cluster.lookup(id)
      const conn = topics.local(id)
      return conn ? entryOf(conn) : undefined
    },
    node: (id) => nodeHandle(id, cluster),
    nodeId: cluster?.nodeId,
    get droppedNotifications() {
      return topics.dropped
    },
    stats: () => ({
      connections: connections.size,
      ...(parking?.stats() ?? { parkedSessions: 0, parkedBytes: 0, resumes: 0, resumeRefusals: 0, parkedSessionsClosed: 0 }),
    }),
    close: () => (closing ??= close()),
  }
}
