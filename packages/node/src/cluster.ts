/**
 * The seam between one server and a cluster of them (`serve({ cluster })`):
 * what a cluster adapter such as `@wirecall/redis` is told about this node's
 * connections, what it may do with them, and the handles the server hands
 * out for connections that may live on another node.
 *
 * The server stays the owner of its connections: the adapter only relays
 * encoded notification frames, calls and presence between nodes.
 */
import type { CallOptions, CallScope, Notify, Remote, SessionOptions } from '@wirecall/core'
import type { Connection } from './connection.js'

/** One connection of the cluster, as presence lists it. */
export interface PresenceEntry {
  /** Cluster-unique connection id (`<node>:c<n>`). */
  readonly id: string
  /** The node that holds the connection. */
  readonly node: string
  /** What that node's `authenticate` hook returned (as JSON data). */
  readonly identity: unknown
  /** Topics the connection is a member of. */
  readonly topics: readonly string[]
  /**
   * When it connected, ms since the epoch. Kept only in a cluster (one number
   * per connection is not worth it otherwise): 0 from a server without one.
   */
  readonly since: number
}

/** Where an encoded notification goes. */
export type FanoutTarget =
  | {
    /** The members of this topic. */
    readonly topic: string
  }
  | {
    /** Every connection. */
    readonly all: true
  }
  | {
    /** These connections, by cluster id. */
    readonly ids: readonly string[]
  }

/** What a cluster adapter may do on this node (given to `Cluster.attach`). */
export interface LocalNode {
  /** Hand an encoded notification frame to this node's connections in `target`; returns how many took it. */
  deliver(target: FanoutTarget, frame: Uint8Array): number
  /** The local connection with this id, if it is here and open. */
  connection(id: string): Connection | undefined
  /** This node's open connections. */
  connections(): Iterable<Connection>
  /** When each local connection connected (ms since the epoch). */
  since(conn: Connection): number
  /**
   * The server's observers (`ServeOptions.observer`: metrics, tracing), for
   * the sessions the cluster opens itself (node links), so that a trace
   * continues from one node to the next.
   */
  readonly observer?: SessionOptions['observer']
}

/**
 * A cluster adapter: `serve({ cluster: redisCluster({ url }) })`. The server
 * calls `attach` once before it accepts connections, reports every
 * connection's life to it, publishes after every local fan-out, and routes
 * calls to connections it does not hold.
 */
export interface Cluster {
  /** This node's id, unique in the cluster; connection ids start with it. */
  readonly nodeId: string
  /** Join the cluster (connect, subscribe, announce this node). */
  attach(node: LocalNode): Promise<void>
  /** A connection opened here. */
  opened(conn: Connection): void
  /** A connection closed here. */
  closed(conn: Connection): void
  /** A local connection joined a topic. */
  joined(conn: Connection, topic: string): void
  /** A local connection left a topic. */
  left(conn: Connection, topic: string): void
  /** Send an encoded notification to the other nodes' connections in `target` (local ones are already served). */
  publish(target: FanoutTarget, frame: Uint8Array): void
  /** Call `path` on the page of connection `id`, held by another node. */
  call(id: string, path: string, args: unknown[], options: CallOptions | undefined): Promise<unknown>
  /**
   * Call `path` on the service a node offers to the other nodes
   * (`nodeService`): on node `node`, or on any live node that offers the
   * path's first member when `node` is undefined.
   */
  callNode(node: string | undefined, path: string, args: unknown[], options: CallOptions | undefined): Promise<unknown>
  /** Every connection of the cluster. */
  presence(): Promise<PresenceEntry[]>
  /** One connection of the cluster, or undefined when there is none with this id. */
  lookup(id: string): Promise<PresenceEntry | undefined>
  /** Leave the cluster (this node's presence goes at once). */
  close(): Promise<void>
}

/** The service of another node (or of any node offering it): `server.node(id).remote`. */
export interface NodeHandle<NodeService = unknown> {
  /** The node's id, or undefined for "any node that offers the method". */
  readonly node: string | undefined
  /** The node's service; calls reject with `ConnectionClosedError` when no live node offers the method. */
  readonly remote: Remote<NodeService>
  /** The same remote with per-call options (timeout, signal). */
  with(options: CallOptions): {
    /** The node's service; calls use the options. */
    readonly remote: Remote<NodeService>
  }
}

/**
 * A connection anywhere in the cluster: `server.connection(id)`. For a
 * local connection it is the `Connection` itself; for one on another node,
 * calls travel through the cluster (arguments and results are data only).
 */
export interface ConnectionHandle<ClientService = unknown> {
  /** The connection's cluster-unique id. */
  readonly id: string
  /** The page's service; calls reject with `ConnectionClosedError` when the connection is gone. */
  readonly remote: Remote<ClientService>
  /** Notifications to the page. */
  readonly notify: Notify<ClientService>
  /** The same remote with per-call options (timeout, signal). */
  with(options: CallOptions): CallScope<ClientService>
}
