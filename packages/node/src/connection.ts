/**
 * One client connection on a wirecall server: a `Session` (so `conn.remote`
 * calls the client's registered service) plus its id, address, identity and
 * topic memberships.
 */
import { Session, type SessionOptions, type Transport } from '@wirecall/core'
import { drain, whenIdle } from '@wirecall/core/internal'

/** What a connection needs from its server for topics. */
export interface TopicRegistry<ClientService> {
  /** Prepended to every connection id: the node id and a colon in a cluster, empty otherwise. */
  readonly idPrefix: string
  join(topic: string, conn: Connection<ClientService>): void
  leave(topic: string, conn: Connection<ClientService>): void
  /** The connection closed: forget it. */
  closed(conn: Connection<ClientService>): void
}

let counter = 0

/**
 * One client connection on a wirecall server: a `Session` whose `remote`
 * calls the service the client registered, plus `id`, `peer`, `identity`
 * and topic membership. Handed to `onConnection`, found in
 * `server.connections`, and in a handler's `ctx.connection`.
 *
 * @example
 * ```ts
 * import { serve } from '@wirecall/node'
 * import { service, withContext, type CallContext } from '@wirecall/core'
 * import type { Connection } from '@wirecall/node'
 *
 * interface Page { getName(): string; onPrice(symbol: string, price: number): void }
 *
 * const server = await serve<Page>({
 *   service: service({
 *     watch: withContext((ctx: CallContext<Connection<Page>>, symbol: string) => ctx.connection.join(`prices:${symbol}`)),
 *   }),
 *   async onConnection(conn) {
 *     console.log(conn.id, conn.peer?.address, conn.identity, await conn.remote.getName())
 *     conn.onClose(() => console.log(conn.id, 'left'))     // topics are left on close
 *   },
 * })
 * ```
 */
export class Connection<ClientService = unknown> extends Session<ClientService> {
  private readonly serial = ++counter
  /** Topics joined; created on first join (most connections of a server join none or few). */
  private joined: Set<string> | undefined

  /** Built by the server for each accepted WebSocket; not for user code. */
  constructor(
    socket: Transport & { terminate(): void },
    options: SessionOptions,
    private readonly registry: TopicRegistry<ClientService>,
    identity?: unknown,
  ) {
    super(socket, options)
    this.identity = identity
  }

  /** Unique within this process (`"c42"`), or within the cluster (`"<node>:c42"`) when the server has one. */
  get id(): string {
    return `${this.registry.idPrefix}c${this.serial}`
  }

  /** Topics this connection is a member of. */
  get topics(): ReadonlySet<string> {
    return this.joined ?? EMPTY
  }

  /** Add this connection to a topic (`server.topic(name).notify...` reaches it). Left automatically on close. */
  join(topic: string): void {
    if (this.closed || this.joined?.has(topic)) return
    ;(this.joined ??= new Set()).add(topic)
    this.registry.join(topic, this)
  }

  /** Remove this connection from a topic. */
  leave(topic: string): void {
    if (!this.joined?.delete(topic)) return
    this.registry.leave(topic, this)
  }

  /**
   * Resolves when no call from the client is running (at once if none is),
   * or when the connection closes.
   */
  whenIdle(): Promise<void> {
    return whenIdle(this)
  }

  /**
   * Start shutting down: calls from the client are refused from now on with
   * `ShuttingDownError` (so the caller knows the call never ran and may retry
   * elsewhere), its notifications are dropped. Resolves like `whenIdle()`,
   * once the calls already running have finished. `server.close()` does this
   * for every connection.
   */
  drain(): Promise<void> {
    return drain(this)
  }

  /** Leave every topic and the server's connection set (a hook, not a listener: nothing to allocate per connection). */
  protected override afterClose(): void {
    if (this.joined) for (const name of [...this.joined]) this.leave(name)
    this.registry.closed(this)
  }

  /** Drop the socket without the closing handshake (used after the close deadline). */
  terminate(): void {
    ;(this.transport as Transport & { terminate(): void }).terminate()
  }
}

const EMPTY: ReadonlySet<string> = new Set()
