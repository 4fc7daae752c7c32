/**
 * Topics: named groups of connections for server push (live dashboards).
 * Membership is kept here. A notification is encoded once per fan-out and
 * the same bytes go to every local member (a slow or closed member is
 * skipped and counted); in a cluster the same bytes are then published once
 * for the other nodes, which deliver them to their own members.
 */
import { type Broadcast, type FanoutResult, type Notify, type SessionOptions } from '@wirecall/core'
import { createProxy, encodeBroadcast, sendEncoded } from '@wirecall/core/internal'
import type { Cluster, FanoutTarget } from './cluster.js'
import type { Connection, TopicRegistry } from './connection.js'

/**
 * A named group of connections, for server push: `server.topic(name)`. A
 * topic exists while it has members; a notification is encoded once for all
 * of them, and a member that is slow (over `sendHighWaterMark`) or closed is
 * skipped and counted in `server.droppedNotifications`. With a cluster, the
 * members of every node are reached; `size`, `members()` and the counts of
 * `send` are this node's.
 *
 * @example
 * ```ts
 * interface Page { onPrice(symbol: string, price: number): void }
 * const server = await serve<Page>({ service: api, onConnection: (conn) => conn.join('prices') })
 *
 * const prices = server.topic('prices')
 * setInterval(() => prices.notify.onPrice('ACME', quote()), 1000)  // every member's page-side service
 * const { delivered, dropped } = prices.send('onPrice', ['ACME', 12.5])
 * console.log(prices.size, delivered, dropped)
 * ```
 */
export interface Topic<ClientService> extends Broadcast<ClientService> {
  /** The topic's name, as given to `server.topic(name)` and `conn.join(name)`. */
  readonly name: string
  /** Number of members now (on this node). */
  readonly size: number
  /** The members now (on this node). */
  members(): Connection<ClientService>[]
  /** Add a connection (same as `conn.join(name)`); it leaves by itself when it closes. */
  join(conn: Connection<ClientService>): void
  /** Remove a connection (same as `conn.leave(name)`). */
  leave(conn: Connection<ClientService>): void
  readonly notify: Notify<ClientService>
}

const NONE: ReadonlySet<never> = new Set()

export class Topics<ClientService> implements TopicRegistry<ClientService> {
  private readonly groups = new Map<string, Set<Connection<ClientService>>>()
  /** Frames skipped because a member was slow or closed (all topics). */
  dropped = 0
  readonly idPrefix: string
  /** Local connections by id, kept only in a cluster (where calls and deliveries name connections by id). */
  private readonly byId: Map<string, Connection<ClientService>> | undefined

  /** `connections`: the server's live set, from which closed connections are removed. */
  constructor(
    private readonly connections: Set<Connection<ClientService>>,
    private readonly options: SessionOptions,
    private readonly cluster: Cluster | undefined,
  ) {
    this.idPrefix = cluster ? `${cluster.nodeId}:` : ''
    this.byId = cluster ? new Map() : undefined
  }

  /** A connection was accepted (the server has added it to its set). */
  opened(conn: Connection<ClientService>): void {
    if (!this.cluster) return
    this.byId!.set(conn.id, conn)
    this.cluster.opened(conn as Connection)
  }

  closed(conn: Connection<ClientService>): void {
    this.connections.delete(conn)
    if (!this.cluster) return
    this.byId!.delete(conn.id)
    this.cluster.closed(conn as Connection)
  }

  join(topic: string, conn: Connection<ClientService>): void {
    let set = this.groups.get(topic)
    if (!set) this.groups.set(topic, (set = new Set()))
    set.add(conn)
    this.cluster?.joined(conn as Connection, topic)
  }

  leave(topic: string, conn: Connection<ClientService>): void {
    const set = this.groups.get(topic)
    if (!set?.delete(conn)) return
    if (set.size === 0) this.groups.delete(topic)
    this.cluster?.left(conn as Connection, topic)
  }

  names(): string[] {
    return [...this.groups.keys()]
  }

  topic(name: string): Topic<ClientService> {
    const members = () => this.groups.get(name) ?? NONE
    const broadcast = this.broadcast({ topic: name })
    return {
      name,
      get size() {
        return members().size
      },
      members: () => [...members()],
      join: (conn) => conn.join(name),
      leave: (conn) => conn.leave(name),
      notify: broadcast.notify,
      send: broadcast.send,
    }
  }

  /** Every connection (of every node). */
  all(): Broadcast<ClientService> {
    return this.broadcast({ all: true })
  }

  /**
   * A receiver list: local connections, or ids of connections anywhere in the
   * cluster; iterated afresh at every send.
   */
  to(receivers: Iterable<Connection<ClientService> | string>): Broadcast<ClientService> {
    return {
      notify: createProxy({ invoke: (path, args) => void this.sendTo(receivers, path, args) }) as Notify<ClientService>,
      send: (path, args) => this.sendTo(receivers, path, args),
    }
  }

  /** Hand a frame that another node published to the local members of `target`. */
  deliver(target: FanoutTarget, frame: Uint8Array): number {
    if ('topic' in target) return this.deliverTo(this.groups.get(target.topic) ?? NONE, frame).delivered
    if ('all' in target) return this.deliverTo(this.connections, frame).delivered
    const local: Connection<ClientService>[] = []
    for (const id of target.ids) {
      const conn = this.local(id)
      if (conn) local.push(conn)
    }
    return this.deliverTo(local, frame).delivered
  }

  /** The open local connection with this id. */
  local(id: string): Connection<ClientService> | undefined {
    if (this.byId) return this.byId.get(id)
    for (const conn of this.connections) if (conn.id === id) return conn
    return undefined
  }

  private broadcast(target: { topic: string } | { all: true }): Broadcast<ClientService> {
    const send = (path: string, args: unknown[]): FanoutResult => {
      const frame = encodeBroadcast(path, args, this.options, 'topic' in target ? target.topic : '(all)')
      const members = 'topic' in target ? (this.groups.get(target.topic) ?? NONE) : this.connections
      const result = this.deliverTo(members, frame)
      this.cluster?.publish(target, frame)
      return result
    }
    return { notify: createProxy({ invoke: (path, args) => void send(path, args) }) as Notify<ClientService>, send }
  }

  private sendTo(receivers: Iterable<Connection<ClientService> | string>, path: string, args: unknown[]): FanoutResult {
    const frame = encodeBroadcast(path, args, this.options, '(to)')
    const local: Connection<ClientService>[] = []
    const remote: string[] = []
    for (const r of receivers) {
      if (typeof r !== 'string') local.push(r)
      else {
        const conn = this.local(r)
        if (conn) local.push(conn)
        else if (this.cluster) remote.push(r)
      }
    }
    const result = this.deliverTo(local, frame)
    if (remote.length > 0) this.cluster!.publish({ ids: remote }, frame)
    return result
  }

  private deliverTo(members: Iterable<Connection<ClientService>>, encoded: Uint8Array): FanoutResult {
    // One Buffer view of the frame for every member: `ws` wraps any other Uint8Array in a new
    // Buffer at each send, which was an allocation per member of every fan-out.
    const frame = Buffer.isBuffer(encoded) ? encoded : Buffer.from(encoded.buffer, encoded.byteOffset, encoded.byteLength)
    let delivered = 0
    let dropped = 0
    for (const member of members) {
      if (sendEncoded(member, frame)) delivered++
      else dropped++
    }
    this.dropped += dropped
    return { delivered, dropped }
  }
}
