/** The options of `redisCluster()`, with their defaults. */
import type { RedisClientOptions } from '@redis/client'
import type { ErrorTable } from '@wirecall/core'
import type { LinkOptions } from './links.js'

/** Options of `redisCluster()`. */
export interface RedisClusterOptions {
  /** Redis URL: `redis://[:password@]host:port[/db]`, or `rediss://` for TLS. */
  readonly url?: string
  /**
   * `url` is a node of a Redis Cluster (7 or later): topic channels, node
   * inboxes and `all` use sharded pub/sub (`SPUBLISH`/`SSUBSCRIBE`), so each
   * channel's traffic goes through the one shard that owns its hash slot, and
   * keys are spread over the shards. The client (`createCluster`) finds the
   * other nodes; `redis` options and the URL's password and TLS apply to every
   * connection. @default false (one Redis, classic pub/sub)
   */
  readonly sharded?: boolean
  /** More options for the official client (`@redis/client`'s `createClient`), e.g. `socket.tls`, `password`. */
  readonly redis?: RedisClientOptions
  /** This node's id: letters, digits, `_` and `-`. @default random, 10 characters */
  readonly nodeId?: string
  /** Prefix of every channel and key, to share one Redis between clusters. @default 'wirecall' */
  readonly prefix?: string
  /** How often this node refreshes its liveness key. @default 2000 */
  readonly heartbeatMs?: number
  /**
   * How long a node that stopped refreshing (killed, frozen, cut off from
   * Redis) stays in presence and keeps receiving calls: the bound on how
   * stale presence can be. @default 6000
   */
  readonly nodeTtlMs?: number
  /**
   * How long joining the cluster in `serve()` (connecting, subscribing,
   * announcing this node) may take before `serve()` rejects. A refused or
   * unreachable Redis fails at once; this bounds one that accepts connections
   * and never answers. @default 10000
   */
  readonly joinTimeoutMs?: number
  /**
   * The service this node offers to the other nodes (`server.node(id).remote`,
   * or `server.node().remote` for any node offering the method): built with
   * `service()`/`@expose` like a page-facing service, and never reachable from
   * pages. Arguments and results are data only.
   */
  readonly nodeService?: object
  /**
   * Direct links between nodes for calls (`true`: listen on 127.0.0.1, any
   * port). Calls to pages on other nodes and to node services then take one
   * WebSocket hop each way instead of two Redis pub/sub hops; presence and
   * fan-out stay on Redis. Off by default: across machines, say where other
   * nodes reach this one (`host: '0.0.0.0', advertise: 'ws://10.0.0.5:7001'`).
   */
  readonly links?: boolean | LinkOptions
  /** Error classes re-raised as themselves from calls to other nodes' pages (as `SessionOptions.errors`). */
  readonly errors?: ErrorTable
  /** Where connection problems with Redis are reported. @default console */
  readonly logger?: {
    /** One line per outage and per recovery, and messages that could not be used. */
    warn(message: string, ...details: unknown[]): void
  }
}
