/**
 * Topics: named groups of connections for server push (live dashboards).
 * Membership is kept here; sending is `createBroadcast` from the core, which
 * encodes once per fan-out and skips slow or closed members.
 */
import { type Broadcast, type Notify, type SessionOptions } from '@wirecall/core'
import { createBroadcast } from '@wirecall/core/internal'
import type { Connection, TopicRegistry } from './connection.js'

/**
 * A named group of connections, for server push: `server.topic(name)`. A
 * topic exists while it has members; a notification is encoded once for all
 * of them, and a member that is slow (over `sendHighWaterMark`) or closed is
 * skipped and counted in `server.droppedNotifications`.
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
  /** Number of members now. */
  readonly size: number
  /** The members now. */
  members(): Connection<ClientService>[]
  /** Add a connection (same as `conn.join(name)`); it leaves by itself when it closes. */
  join(conn: Connection<ClientService>): void
  /** Remove a connection (same as `conn.leave(name)`). */
  leave(conn: Connection<ClientService>): void
  readonly notify: Notify<ClientService>
}

export class Topics<ClientService> implements TopicRegistry<ClientService> {
  private readonly groups = new Map<string, Set<Connection<ClientService>>>()

  /** `connections`: the server's live set, from which closed connections are removed. */
  constructor(private readonly connections: Set<Connection<ClientService>>, private readonly options: SessionOptions) {}

  closed(conn: Connection<ClientService>): void {
    this.connections.delete(conn)
  }
  /** Frames skipped because a member was slow or closed (all topics). */
  dropped = 0

  join(topic: string, conn: Connection<ClientService>): void {
    let set = this.groups.get(topic)
    if (!set) this.groups.set(topic, (set = new Set()))
    set.add(conn)
  }

  leave(topic: string, conn: Connection<ClientService>): void {
    const set = this.groups.get(topic)
    if (!set) return
    set.delete(conn)
    if (set.size === 0) this.groups.delete(topic)
  }

  names(): string[] {
    return [...this.groups.keys()]
  }

  topic(name: string): Topic<ClientService> {
    const members = () => this.groups.get(name) ?? new Set<Connection<ClientService>>()
    const broadcast = createBroadcast<ClientService>(members, () => this.dropped++, this.options)
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

  /** A broadcast to a receiver list (quickrpc's receivers); iterated afresh at every send. */
  to(connections: Iterable<Connection<ClientService>>): Broadcast<ClientService> {
    return createBroadcast<ClientService>(() => connections, () => this.dropped++, this.options)
  }
}
