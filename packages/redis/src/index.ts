/**
 * @wirecall/redis: several wirecall servers acting as one, over Redis.
 * Re-exports only.
 */
export { redisCluster } from './cluster.js'
export type { RedisClusterOptions } from './options.js'
export type { LinkOptions } from './links.js'
