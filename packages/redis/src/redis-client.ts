/**
 * The Redis client as this adapter uses it: the same few commands and
 * pub/sub for one Redis (`createClient`) and a Redis Cluster
 * (`createCluster`), and the options both are made with.
 */
import { createClient, createCluster, type RedisClientOptions } from '@redis/client'
import type { RedisClusterOptions } from './options.js'

/**
 * The part of a Redis client this adapter uses, the same for one Redis
 * (`createClient`) and for a Redis Cluster (`createCluster`): commands,
 * `MULTI` on keys of one hash slot, and pub/sub (classic or sharded, chosen
 * once in the constructor).
 */
export interface Client {
  readonly isReady: boolean
  readonly isOpen: boolean
  connect(): Promise<unknown>
  close(): Promise<unknown>
  destroy(): void
  duplicate(): Client
  on(event: string, listener: (...args: never[]) => void): unknown
  once(event: string, listener: (...args: never[]) => void): unknown
  off(event: string, listener: (...args: never[]) => void): unknown
  set(key: string, value: string, options?: { PX?: number; NX?: boolean }): Promise<unknown>
  get(key: string): Promise<string | null>
  exists(key: string): Promise<number>
  del(keys: string | string[]): Promise<number>
  sAdd(key: string, members: string | string[]): Promise<number>
  sRem(key: string, members: string | string[]): Promise<number>
  sMembers(key: string): Promise<string[]>
  hSet(key: string, field: string | Record<string, string>, value?: string): Promise<number>
  hDel(key: string, field: string): Promise<number>
  hGet(key: string, field: string): Promise<string | null | undefined>
  hGetAll(key: string): Promise<Record<string, string>>
  multi(): Multi
  publish(channel: string, message: Buffer): Promise<number>
  sPublish(channel: string, message: Buffer): Promise<number>
  subscribe(channels: string | string[], listener: (message: Buffer, channel: Buffer) => void, bufferMode: true): Promise<void>
  unsubscribe(channels: string, listener: (message: Buffer, channel: Buffer) => void, bufferMode: true): Promise<void>
  sSubscribe(channels: string | string[], listener: (message: Buffer, channel: Buffer) => void, bufferMode: true): Promise<void>
  sUnsubscribe(channels: string, listener: (message: Buffer, channel: Buffer) => void, bufferMode: true): Promise<void>
}

/** A `MULTI` of this adapter: every key in it is in one hash slot (see `liveKey`). */
export interface Multi {
  exists(key: string): Multi
  set(key: string, value: string, options?: { PX?: number }): Multi
  del(keys: string | string[]): Multi
  hSet(key: string, fields: Record<string, string>): Multi
  pExpire(key: string, ms: number): Multi
  /** The replies in order. */
  exec(): Promise<unknown[]>
}

/**
 * The options of `createCluster` for `redisCluster({ url, sharded: true })`:
 * `url` is one node of the Redis Cluster (the client discovers the others),
 * and every connection, to discovered nodes too, gets the same client options
 * and the URL's credentials and TLS.
 */
function clusterOptions(url: string | undefined, client: RedisClientOptions): Parameters<typeof createCluster>[0] {
  if (!url) throw new TypeError('redisCluster: sharded needs the url of one node of the Redis Cluster')
  const parsed = new URL(url)
  const { url: _ignored, ...defaults } = client
  return {
    rootNodes: [{ url }],
    defaults: {
      ...defaults,
      ...(parsed.username ? { username: decodeURIComponent(parsed.username) } : {}),
      ...(parsed.password ? { password: decodeURIComponent(parsed.password) } : {}),
      ...(parsed.protocol === 'rediss:' ? { socket: { ...defaults.socket, tls: true } as RedisClientOptions['socket'] } : {}),
    },
  }
}

/**
 * The publishing client of a node (`duplicate()` it for subscribing): one
 * Redis, or a Redis Cluster with `sharded`. Cluster operations fail fast
 * while Redis is away instead of queueing behind a reconnect, and the client
 * reconnects with a capped backoff for as long as the node lives.
 */
export function createRedisClient(options: RedisClusterOptions, sharded: boolean): Client {
  const clientOptions: RedisClientOptions = {
    ...options.redis,
    ...(options.url ? { url: options.url } : {}),
    disableOfflineQueue: true,
    socket: {
      reconnectStrategy: (retries: number) => Math.min(50 * 2 ** retries, 2000) + Math.floor(Math.random() * 100),
      connectTimeout: 5000,
      ...options.redis?.socket,
    } as RedisClientOptions['socket'],
  }
  // Both client kinds have the methods of `Client`; their own types are generic over modules and RESP versions.
  return (sharded ? createCluster(clusterOptions(options.url, clientOptions)) : createClient(clientOptions)) as unknown as Client
}
