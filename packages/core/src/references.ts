/**
 * Callbacks and services passed by reference: the two tables of one
 * connection and their lifetime rules.
 *
 * Exports (things of ours the peer may call) are counted: every time an id
 * is sent its count goes up, and the peer's release says how many sends it
 * is giving back, so a release crossing a fresh send on the wire never drops
 * a live entry (the same scheme as Cap'n Proto's import/export tables).
 *
 * Imports (the peer's things we hold) are proxies. One live proxy per id;
 * it is released by `release(proxy)`, `proxy[Symbol.dispose]()`, when it is
 * garbage-collected (FinalizationRegistry), or all at once when the
 * connection closes. Releases are batched into one frame per tick.
 */
import type { SharedBudget } from './budget.js'
import { markCallScoped, wantsContext } from './contextual.js'
import { debugLog } from './debug.js'
import { OverloadedError, ReferenceReleasedError } from './errors.js'
import { resolvePath, type Handler } from './router.js'
import { createProxy, type Invoker } from './proxy.js'
import { consumerOf } from './stream-support.js'

interface Export {
  readonly value: object
  count: number
}

interface Import {
  readonly id: number
  readonly proxy: WeakRef<object>
  count: number
  released: boolean
}

/** What the table needs from its session. */
export interface ReferenceOwner {
  /** Call a reference of the peer: `#id` or `#id.path.method`. */
  invoke(path: string, args: unknown[]): unknown
  /** Send `[4, [id, count, ...]]`. */
  sendRelease(pairs: number[]): void
}

/** `DEBUG=wirecall:refs`: exports, imports and releases. */
const debug = debugLog('wirecall:refs')

/** Stands in for a reference refused past `maxImportedRefs`; the frame holding it is refused. */
const REFUSED = Object.freeze({})

/** Which session and id a proxy belongs to, for passing it back and for `release`. */
const proxyInfo = new WeakMap<object, { table: References; entry: Import }>()

export class References {
  private readonly exports = new Map<number, Export>()
  private readonly exportIds = new Map<object, number>()
  private readonly imports = new Map<number, Import>()
  private nextExportId = 1
  private releaseQueue: number[] = []
  private releaseScheduled = false
  private closed = false
  private overflowed = false
  private readonly finalizer = new FinalizationRegistry<Import>((entry) => this.drop(entry))
  /**
   * Export ids counted and proxies handed out while the current frame is
   * encoded or decoded (frames nest only through user hooks, so each user
   * takes a mark and works above it). If that frame fails, or nobody will
   * ever see its values, they are undone: see `endEncode` and `giveBackSince`.
   */
  private readonly frameExports: number[] = []
  private readonly frameImports: object[] = []

  constructor(
    private readonly owner: ReferenceOwner,
    private readonly maxExports: number,
    private readonly maxImports: number,
    /** Server-wide reference count, when this table belongs to a server's connection. */
    private readonly budget: SharedBudget | undefined,
  ) {}

  /** Live entries, for leak hunting: `session.stats()`. */
  get exportCount(): number {
    return this.exports.size
  }
  get importCount(): number {
    return this.imports.size
  }

  // ------------------------------------------------------------ our exports

  /** Export `value` (or count one more send of it) in the frame being encoded; returns its id. */
  export(value: object): number {
    const known = this.exportIds.get(value)
    if (known !== undefined) {
      this.exports.get(known)!.count++
      this.frameExports.push(known)
      return known
    }
    if (this.exports.size >= this.maxExports) {
      // Say why they pile up: the usual cause is a fresh callback per call, which only the peer's GC gives back.
      throw new OverloadedError(
        `too many exported references (limit maxExportedRefs = ${this.maxExports}): the peer holds them until it releases ` +
        'them or collects their proxies; for a callback passed per call, mark its handler callScoped',
      )
    }
    if (this.budget && this.budget.refs >= this.budget.maxRefs) {
      throw new OverloadedError(`too many references on this server (limit maxServerRefs = ${this.budget.maxRefs})`)
    }
    if (this.budget) this.budget.refs++
    let id = this.nextExportId
    while (this.exports.has(id)) id = id >= 0xffff_fffe ? 1 : id + 1
    this.nextExportId = id >= 0xffff_fffe ? 1 : id + 1
    this.exports.set(id, { value, count: 1 })
    this.exportIds.set(value, id)
    this.frameExports.push(id)
    if (debug.enabled) debug(`exported #${id} (${typeof value === 'function' ? 'function' : 'service'}); ${this.exports.size} exported`)
    return id
  }

  /** Where the export log of a frame about to be encoded starts. */
  get exportMark(): number {
    return this.frameExports.length
  }

  /** A frame's encoding ended; if it `failed` (never sent), the exports it counted are undone. */
  endEncode(mark: number, failed: boolean): void {
    const log = this.frameExports
    if (failed) for (let i = mark; i < log.length; i++) this.releaseExport(log[i]!, 1)
    log.length = mark
  }

  /** The object behind one of our export ids, or undefined if released. */
  exported(id: number): { value: object } | undefined {
    return this.exports.get(id)
  }

  /** The peer gives back `count` sends of export `id`. */
  releaseExport(id: number, count: number): void {
    const entry = this.exports.get(id)
    if (!entry) return
    entry.count -= count
    if (entry.count <= 0) {
      this.exports.delete(id)
      this.exportIds.delete(entry.value)
      if (debug.enabled) debug(`released export #${id}; ${this.exports.size} exported`)
      if (this.budget) this.budget.refs--
    }
  }

  // ------------------------------------------------------------ peer's exports

  /** The local proxy for the peer's reference `id` (one live proxy per id), decoded from the current frame. */
  import(id: number): object {
    const existing = this.imports.get(id)
    if (existing) {
      const proxy = existing.proxy.deref()
      if (proxy) {
        existing.count++
        this.frameImports.push(proxy)
        return proxy
      }
      // Collected but not yet finalized: give its count back now.
      this.drop(existing)
    }
    if (this.imports.size >= this.maxImports || (this.budget !== undefined && this.budget.refs >= this.budget.maxRefs)) {
      // Refused, and given straight back so the peer's table does not keep it. Decoding goes on
      // (later references of the frame are given back the same way); the session then refuses
      // the whole frame with OverloadedError and gives back what was imported from it.
      this.overflowed = true
      this.queueRelease(id, 1)
      return REFUSED
    }
    const entry: Import = { id, proxy: undefined as unknown as WeakRef<object>, count: 1, released: false }
    const base = `#${id}`
    const invoker: Invoker = {
      // Checked per proxy, not per id: once released, this proxy stays dead even if the peer
      // sends the same id again and a new proxy for it is live. (After close the session's own
      // check answers first, with ConnectionClosedError.)
      invoke: (path, args) => entry.released && !this.closed
        ? Promise.reject(new ReferenceReleasedError(`reference #${id} was released`))
        : this.owner.invoke(path ? `${base}.${path}` : base, args),
    }
    const release = () => this.release(proxy)
    const extras = new Map<PropertyKey, unknown>([[Symbol.dispose, release]])
    // Functions and services are the same proxy: calling the root calls `#id`, members call `#id.path`.
    const proxy = createProxy(invoker, '', extras) as object
    ;(entry as { proxy: WeakRef<object> }).proxy = new WeakRef(proxy)
    this.imports.set(id, entry)
    if (this.budget) this.budget.refs++
    proxyInfo.set(proxy, { table: this, entry })
    this.finalizer.register(proxy, entry, entry)
    this.frameImports.push(proxy)
    if (debug.enabled) debug(`imported #${id}; ${this.imports.size} imported`)
    return proxy
  }

  /** Where the import log of a frame about to be decoded starts. */
  get importMark(): number {
    return this.frameImports.length
  }

  /** The frame decoded since `mark` was handled: its proxies belong to whoever received them. */
  endDecode(mark: number): void {
    this.frameImports.length = mark
  }

  /** The handler for a call addressed to one of our exports: `#id` (a function) or `#id.path` (a member of a service). */
  resolve(method: string): Handler | Error | undefined {
    const end = method.indexOf('.')
    const idText = method.slice(1, end === -1 ? undefined : end)
    const id = /^\d{1,10}$/.test(idText) ? Number(idText) : NaN
    const entry = this.exports.get(id)
    if (!entry) return new ReferenceReleasedError(`reference #${idText.slice(0, 20)} does not exist or was released`)
    if (end === -1) {
      return typeof entry.value === 'function' ? { fn: entry.value, self: undefined, contextual: wantsContext(entry.value) } : undefined
    }
    return resolvePath(entry.value, method.slice(end + 1))
  }

  /** If `value` is a live proxy imported by this table, its id (to hand it back to its owner). */
  importedIdOf(value: object): number | undefined {
    const info = proxyInfo.get(value)
    return info && info.table === this && !info.entry.released ? info.entry.id : undefined
  }

  /** Is this proxy released or dead? Calls on it must fail at once. */
  isReleased(id: number): boolean {
    return !this.imports.has(id)
  }

  /** Release an imported proxy now. Returns false if it was not a live proxy of this table. */
  release(proxy: object): boolean {
    const info = proxyInfo.get(proxy)
    if (!info || info.table !== this || info.entry.released) return false
    this.finalizer.unregister(info.entry)
    this.drop(info.entry)
    return true
  }

  /**
   * Give back one received copy of each proxy decoded from the current frame since `mark`: nobody
   * will ever see that frame's values (no such method, overloaded, late reply, malformed), so
   * without this they would hold the peer's exports until GC. A proxy still held from earlier
   * sends stays alive with one copy fewer.
   */
  giveBackSince(mark: number): void {
    const log = this.frameImports
    if (log.length <= mark) return
    const proxies = log.slice(mark)
    log.length = mark
    this.giveBack(proxies)
  }

  /** The proxies decoded from the current frame since `mark` (one entry per copy received), to give back later. */
  importsSince(mark: number): object[] {
    return this.frameImports.slice(mark)
  }

  /**
   * Give back one received copy of each of `proxies` (as `giveBackSince` does for a frame nobody
   * saw): a `callScoped` handler's argument references, once it has settled.
   */
  giveBack(proxies: readonly object[]): void {
    for (const proxy of proxies) {
      const info = proxyInfo.get(proxy)
      if (!info || info.table !== this || info.entry.released) continue
      const entry = info.entry
      if (entry.count > 1) {
        entry.count--
        this.queueRelease(entry.id, 1)
      } else {
        this.finalizer.unregister(entry)
        this.drop(entry)
      }
    }
  }

  private drop(entry: Import): void {
    if (entry.released) return
    entry.released = true
    if (debug.enabled) debug(`releasing import #${entry.id} (${entry.count} send(s))`)
    if (this.imports.get(entry.id) === entry) {
      this.imports.delete(entry.id)
      if (this.budget) this.budget.refs--
    }
    this.queueRelease(entry.id, entry.count)
  }

  /** Did an import hit `maxImportedRefs` since the last call? (The session then refuses the frame.) */
  takeOverflow(): boolean {
    const overflowed = this.overflowed
    this.overflowed = false
    return overflowed
  }

  private queueRelease(id: number, count: number): void {
    if (this.closed) return
    this.releaseQueue.push(id, count)
    if (!this.releaseScheduled) {
      this.releaseScheduled = true
      queueMicrotask(() => this.flushReleases())
    }
  }

  private flushReleases(): void {
    this.releaseScheduled = false
    const pairs = this.releaseQueue
    this.releaseQueue = []
    if (pairs.length === 0 || this.closed) return
    try {
      this.owner.sendRelease(pairs)
    } catch {
      // A microtask must not throw (it would be an uncaught exception); a release
      // that cannot be sent is moot: the connection is failing and closeAll follows.
    }
  }

  /** The connection closed: everything dies at once. */
  closeAll(): void {
    this.closed = true
    if (this.budget) this.budget.refs -= this.exports.size + this.imports.size
    this.exports.clear()
    this.exportIds.clear()
    for (const entry of this.imports.values()) {
      entry.released = true
      const proxy = entry.proxy.deref()
      if (proxy) this.finalizer.unregister(entry)
    }
    this.imports.clear()
    this.releaseQueue = []
  }
}

/**
 * Mark a handler whose callbacks and services received as arguments are
 * needed only while it runs: when it settles (its answer sent, or it threw),
 * wirecall gives those references back to the caller at once instead of when
 * garbage collection finds their proxies. For a callback passed per call
 * (`remote.run(job, (pct) => ...)`, progress, row or ack callbacks): without
 * it, a caller that makes calls faster than the callee's process collects
 * garbage piles up exports until `maxExportedRefs` refuses new calls. A
 * reference the handler keeps and calls after it settled then rejects with
 * `ReferenceReleasedError`; one the connection received again for a longer
 * holder (a subscription) stays alive for it (releases count copies). Calls
 * and notifications alike (but a notification that `session.on` listeners
 * received too keeps its references until they are collected: a listener may
 * keep them); a stream result keeps running after the call settled, so its
 * producer must not call the arguments' callbacks (a generator function is
 * refused with `TypeError`).
 * Marks `handler` itself and returns it (the same function exposed anywhere
 * else is call-scoped there too); combines with `withContext` and
 * `validated` either way round.
 *
 * @example
 * ```ts
 * import { callScoped, service } from '@wirecall/core'
 *
 * const api = service({
 *   run: callScoped(async (job: string, onProgress: (pct: number) => void) => {
 *     for (let pct = 0; pct <= 100; pct += 50) await onProgress(pct)
 *     return `${job} done`
 *   }),
 * })
 * ```
 */
export function callScoped<A extends unknown[], R>(handler: (...args: A) => R): (...args: A) => R {
  if (typeof handler !== 'function') throw new TypeError('callScoped() expects a function')
  markCallScoped(handler)
  return handler
}

/**
 * Release a callback or service reference received from a peer, telling the
 * peer it may forget it. Later calls reject with `ReferenceReleasedError`.
 * Same as `ref[Symbol.dispose]()`, and what `using ref = ...` does. A
 * `RemoteStream` is stopped (as by `stream.return()`).
 */
export function release(reference: unknown): boolean {
  if ((typeof reference !== 'function' && typeof reference !== 'object') || reference === null) return false
  const stream = consumerOf.get(reference)
  if (stream) {
    stream.cancel()
    return true
  }
  const info = proxyInfo.get(reference)
  return info ? info.table.release(reference) : false
}
