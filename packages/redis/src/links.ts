/**
 * Direct links between nodes for calls (opt-in: `redisCluster({ links })`).
 * Through Redis a call and its answer take two pub/sub hops; over a link
 * they take one WebSocket hop each way. Each node runs a small wirecall
 * server of its own for its links, separate from the page-facing one, that
 * only other nodes can open: the handshake must carry the cluster's secret,
 * which lives in Redis (whoever can read Redis is trusted by the cluster
 * anyway). Presence, fan-out and nodes without a link stay on Redis.
 */
import { service, withContext, type CallContext, type Session, type SessionOptions } from '@wirecall/core'
import { connect, serve, type WirecallServer } from '@wirecall/node'

/** Where a node listens for links from the other nodes. */
export interface LinkOptions {
  /** Interface to listen on. @default '127.0.0.1' */
  readonly host?: string
  /** Port to listen on. @default 0 (any free port) */
  readonly port?: number
  /**
   * The URL other nodes use to reach this one, when it is not
   * `ws://<host>:<port>` (a container's published address, a private IP when
   * listening on 0.0.0.0).
   */
  readonly advertise?: string
}

/** Calls one node may have running on another over its link (the page-facing limits are per page). */
const LINK_IN_FLIGHT = 65_536

/** The handshake header that carries the cluster's secret. */
const SECRET_HEADER = 'x-wirecall-cluster'

/** What a link runs on the receiving node. */
export interface LinkTargets {
  callPage(id: string, path: string, args: unknown[], timeoutMs: number): Promise<unknown>
  callNode(path: string, args: unknown[], timeoutMs: number, from: string): Promise<unknown>
}

export class NodeLinks {
  private server: WirecallServer | undefined
  /** Open (or opening) links to other nodes, by node id. */
  private readonly sessions = new Map<string, Promise<Session>>()
  /** The same links once open, for calls that need not wait a microtask for the promise. */
  private readonly open = new Map<string, Session>()
  /** This node's link URL, once listening. */
  url: string | undefined

  constructor(
    private readonly options: LinkOptions,
    private readonly nodeId: string,
    private readonly secret: string,
    private readonly targets: LinkTargets,
    /** The page-facing server's observers: link calls are observed (and traced) like any other call. */
    private readonly observer?: SessionOptions['observer'],
  ) {}

  async start(): Promise<void> {
    const targets = this.targets
    const host = this.options.host ?? '127.0.0.1'
    this.server = await serve({
      host,
      port: this.options.port ?? 0,
      service: service({
        page: (id: string, path: string, args: unknown[], timeoutMs: number) => targets.callPage(id, path, args, timeoutMs),
        node: withContext((ctx: CallContext, path: string, args: unknown[], timeoutMs: number) =>
          targets.callNode(path, args, timeoutMs, String(ctx.identity))),
      }),
      // Only nodes of this cluster: the secret, checked before anything else runs.
      authenticate: (req) => {
        const from = req.headers['x-wirecall-node']
        return req.headers[SECRET_HEADER] === this.secret && typeof from === 'string' ? from : undefined
      },
      // Node links are not pages: no browser Origin to check, and any address the nodes use.
      allowedHosts: 'all',
      // Errors cross as the page or node service threw them; redaction is the page-facing server's job.
      redactErrors: false,
      exposeErrorStacks: false,
      logger: { warn() {}, error() {} },
      // Trusted peers that multiplex many pages' calls on one link: bursts of thousands are normal.
      limits: { maxInFlightCalls: LINK_IN_FLIGHT, maxServerInFlightCalls: LINK_IN_FLIGHT },
      ...(this.observer ? { observer: this.observer } : {}),
    })
    this.url = this.options.advertise ?? `ws://${host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host}:${this.server.port}`
  }

  /** Call over the link to `node` at `url` (opened on first use, reused after: then sent in this tick). */
  call(node: string, url: string, method: 'page' | 'node', args: unknown[], timeoutMs: number, signal: AbortSignal | undefined): Promise<unknown> {
    const options = { timeout: timeoutMs, ...(signal ? { signal } : {}) }
    const open = this.open.get(node)
    if (open && !open.closed) return open.call(method, args, options)
    return this.session(node, url).then((session) => session.call(method, args, options))
  }

  private session(node: string, url: string): Promise<Session> {
    let link = this.sessions.get(node)
    if (!link) {
      link = connect(url, {
        headers: { [SECRET_HEADER]: this.secret, 'x-wirecall-node': this.nodeId },
        logger: { warn() {}, error() {} },
        ...(this.observer ? { observer: this.observer } : {}),
      })
      this.sessions.set(node, link)
      link.then(
        (session) => {
          if (this.sessions.get(node) !== link) return
          this.open.set(node, session)
          session.onClose(() => {
            if (this.sessions.get(node) === link) this.sessions.delete(node)
            if (this.open.get(node) === session) this.open.delete(node)
          })
        },
        () => this.sessions.delete(node),
      )
    }
    return link
  }

  async close(): Promise<void> {
    const sessions = [...this.sessions.values()]
    this.sessions.clear()
    this.open.clear()
    await Promise.all(sessions.map((s) => s.then((session) => session.close(), () => {})))
    await this.server?.close()
  }
}
