/**
 * The names and records a cluster keeps in Redis: node ids, connection ids
 * (`<node>:c<n>`), presence entries, and what a node service offers.
 */
import { resolvePath } from '@wirecall/core/internal'
import type { PresenceEntry } from '@wirecall/node'

/** What a node id may be made of. */
export const NODE_ID = /^[A-Za-z0-9_-]{1,64}$/

/** The node of a cluster connection id (`<node>:c<n>`). */
export function nodeOf(id: string): string | undefined {
  const colon = id.lastIndexOf(':')
  return colon > 0 ? id.slice(0, colon) : undefined
}

export function parseEntry(id: string, node: string, json: string): PresenceEntry {
  const data = JSON.parse(json) as { identity?: unknown; topics?: string[]; since?: number }
  return { id, node, identity: data.identity ?? null, topics: data.topics ?? [], since: data.since ?? 0 }
}

/** Identity as JSON data (presence is read by other processes); what JSON cannot carry becomes its string form. */
export function jsonSafe(value: unknown): unknown {
  if (value === undefined) return null
  try {
    return JSON.parse(JSON.stringify(value)) as unknown
  } catch {
    return String(value)
  }
}

export function randomId(): string {
  let id = ''
  const bytes = crypto.getRandomValues(new Uint8Array(10))
  for (const b of bytes) id += 'abcdefghijklmnopqrstuvwxyz0123456789'[b % 36]
  return id
}

/** The top-level members a node service offers (for "any node offering it"). */
export function offeredNames(root: object): string[] {
  const router = root as { names?: () => string[] }
  if (typeof router.names === 'function') return router.names()
  const names = new Set<string>()
  for (let o: object | null = root; o && o !== Object.prototype; o = Object.getPrototypeOf(o) as object | null) {
    for (const key of Object.getOwnPropertyNames(o)) {
      if (key === 'constructor') continue
      const value = (root as Record<string, unknown>)[key]
      if (resolvePath(root, key) || (typeof value === 'object' && value !== null)) names.add(key)
    }
  }
  return [...names]
}
