/**
 * @wirecall/redis: several wirecall servers acting as one, over Redis.
 * Re-exports only.
 */
export { redisCluster, type RedisClusterOptions } from './cluster.js'
export type { LinkOptions } from './links.js'
