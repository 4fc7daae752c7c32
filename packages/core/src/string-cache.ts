/**
 * The msgpack decoder's cache of short strings (msgpack-decode.ts, `Reader.string`).
 *
 * Short ASCII strings (method names, map keys) are taken from a small cache
 * of strings decoded before, found by a hash of their bytes. They repeat in
 * almost every frame, and a fresh string used as a property key (resolving
 * the method, building a decoded map) is first looked up in V8's string
 * table, hashing it again each time: about half the cost of delivering a
 * server push, measured. A cached string is looked up once. Direct-mapped
 * and fixed in size, so a peer that sends endless distinct keys only
 * replaces entries; strings are immutable, so sharing one between frames and
 * connections shows nothing.
 */
export const MAX_CACHED_STRING = 16
const STRING_CACHE_SLOTS = 1024
const stringCache: (string | undefined)[] = new Array<string | undefined>(STRING_CACHE_SLOTS).fill(undefined)

/** The string of the `n` bytes at `at` if they are ASCII (else undefined), from the cache when it holds it. */
export function cachedString(b: Uint8Array, at: number, n: number): string | undefined {
  let hash = n
  for (let i = at; i < at + n; i++) {
    const c = b[i]!
    if (c >= 0x80) return undefined
    hash = Math.imul(hash ^ c, 0x01000193) // FNV-1a
  }
  const slot = (hash ^ (hash >>> 15)) & (STRING_CACHE_SLOTS - 1)
  const cached = stringCache[slot]
  if (cached !== undefined && cached.length === n) {
    let same = true
    for (let i = 0; i < n; i++) {
      if (cached.charCodeAt(i) !== b[at + i]) {
        same = false
        break
      }
    }
    if (same) return cached
  }
  let s = ''
  for (let i = at; i < at + n; i++) s += String.fromCharCode(b[i]!)
  stringCache[slot] = s
  return s
}
