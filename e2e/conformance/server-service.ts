/**
 * The service every conformance runner puts on the server side (the in-memory
 * peer, the Node server in vitest, and the Node server behind Chromium).
 *
 * State that a case needs to inspect later (notifications received, handler
 * signals that fired, references held) is kept per connection in a WeakMap,
 * so concurrent connections never see each other's state and nothing
 * outlives its connection.
 */
import { expose, release, service, validated, withContext, type CallContext, type Session, type SessionStats } from '@wirecall/core'
import * as z from 'zod'

/** What a conformance client registers for the server to call through `conn.remote`. */
export interface ClientService {
  greet(name: string): string
}

type Ctx = CallContext<Session<ClientService>>

/** A user error class the client does not register: it must arrive as a `RemoteError`. */
export class QuotaError extends Error {
  override name = 'QuotaError'
  code = 'E_QUOTA'
  constructor(message: string, readonly limit: number, readonly used: number) {
    super(message)
  }
}

/** An exposed class: `mul` is reachable, `secret` is not. */
export class Calculator {
  mul(a: number, b: number): number {
    return a * b
  }
  secret(): string {
    return 'must never be reachable'
  }
}
expose(Calculator, ['mul'])

interface Deferred<T> {
  promise: Promise<T>
  resolve(value: T): void
  settled: boolean
}

function deferred<T>(): Deferred<T> {
  let resolve!: (value: T) => void
  const d: Deferred<T> = {
    promise: new Promise<T>((r) => (resolve = r)),
    resolve: (value) => {
      if (d.settled) return
      d.settled = true
      resolve(value)
    },
    settled: false,
  }
  return d
}

/** A handler waiting on its `ctx.signal`, as the client sees it through `cancelReport`. */
interface Watched {
  started: Deferred<void>
  /** Resolves with the signal's reason name when the handler's signal fires. */
  fired: Deferred<string>
}

interface ConnState {
  recorded: Map<string, unknown>
  watched: Map<string, Watched>
  /** Proxies of the client's references this connection's handlers chose to keep. */
  held: object[]
  /** Functions this server handed out with `makeToken`. */
  tokens: Set<Function>
  /** Producers started by `ticker(key)`: what they pulled, and how they ended. */
  tickers: Map<string, Ticker>
  /** Runs of the validated handlers (`checked.*`): a refused call must never add one. */
  checkedRuns?: number
}

/** What a `ticker` producer did, as the client sees it through `tickerReport`. */
interface Ticker {
  pulled: number
  /** Resolves with the signal's reason name (or 'none') once the generator's `finally` ran. */
  finished: Deferred<string>
  reason: string
}

const states = new WeakMap<object, ConnState>()

function stateOf(ctx: Ctx): ConnState {
  let s = states.get(ctx.connection)
  if (!s) states.set(ctx.connection, (s = { recorded: new Map(), watched: new Map(), held: [], tokens: new Set(), tickers: new Map() }))
  return s
}

function watched(ctx: Ctx, key: string): Watched {
  const s = stateOf(ctx)
  let w = s.watched.get(key)
  if (!w) s.watched.set(key, (w = { started: deferred(), fired: deferred() }))
  return w
}

/** Resolve with `promise`'s value, or `fallback` after `ms` (the timer is always cleared). */
function within<T>(promise: Promise<T>, ms: number, fallback: T): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined
  return Promise.race([promise, new Promise<T>((r) => (timer = setTimeout(() => r(fallback), ms)))]).finally(() =>
    clearTimeout(timer),
  )
}

function reasonName(reason: unknown): string {
  return reason instanceof Error ? reason.name : typeof reason === 'object' && reason !== null ? String((reason as { name?: unknown }).name) : String(reason)
}

/** A description of a value as the server received it, so a case can tell a round trip from real decoding. */
function inspect(value: unknown): string {
  if (value instanceof Uint8Array) {
    let sum = 0
    for (let i = 0; i < value.length; i++) sum = (sum * 31 + value[i]!) >>> 0
    return `Uint8Array:${value.byteLength}:${sum}`
  }
  if (value instanceof Date) return `Date:${value.getTime()}`
  if (typeof value === 'bigint') return `bigint:${value.toString()}`
  if (value instanceof Map) return `Map:${[...value].map(([k, v]) => `${inspect(k)}=>${inspect(v)}`).join(',')}`
  if (value instanceof Set) return `Set:${[...value].map(inspect).join(',')}`
  if (Array.isArray(value)) return `Array:[${value.map(inspect).join(',')}]`
  if (value === null) return 'null'
  if (typeof value === 'object') return `Object:{${Object.entries(value).map(([k, v]) => `${k}:${inspect(v)}`).join(',')}}`
  return `${typeof value}:${String(value)}`
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms))

/** The bytes `chunks(count, size)` yields as chunk `i` (the client checks them). */
export function chunkPattern(i: number, size: number): Uint8Array {
  const bytes = new Uint8Array(size)
  for (let k = 0; k < size; k++) bytes[k] = (k * 31 + i) & 0xff
  return bytes
}

/** A fresh instance of the shared test service. */
export function createTestService() {
  return service({
    add: (a: number, b: number) => a + b,
    echo: <T>(value: T): T => value,
    inspect: (value: unknown) => inspect(value),
    /** Answers after `ms` (no context: it cannot be cancelled, it just finishes). */
    slowAdd: async (a: number, b: number, ms: number) => {
      await sleep(ms)
      return a + b
    },

    math: service({
      add: (a: number, b: number) => a + b,
      sub: (a: number, b: number) => a - b,
    }),
    deep: { inner: { whereAmI: withContext((ctx: Ctx) => ctx.path) } },
    /** Validated parameters (zod, through Standard Schema); `runs()` counts the handlers' runs on this connection. */
    checked: service({
      add: validated({ params: [z.number(), z.number()], context: true }, (ctx: Ctx, a, b) => {
        const s = stateOf(ctx)
        s.checkedRuns = (s.checkedRuns ?? 0) + 1
        return a + b
      }),
      area: validated({ params: [z.object({ w: z.number(), h: z.number().default(1) })], context: true }, (ctx: Ctx, { w, h }) => {
        const s = stateOf(ctx)
        s.checkedRuns = (s.checkedRuns ?? 0) + 1
        return w * h
      }),
      runs: withContext((ctx: Ctx) => stateOf(ctx).checkedRuns ?? 0),
    }),
    calc: new Calculator(),

    /** Throws (or rejects) in several ways. */
    fail: async (kind: string, asynchronous = false): Promise<never> => {
      if (asynchronous) await sleep(1)
      switch (kind) {
        case 'type':
          throw new TypeError('bad type: 42')
        case 'range':
          throw new RangeError('out of range: -1')
        case 'custom':
          throw new QuotaError('quota exceeded', 5, 7)
        case 'string':
          throw 'a plain string'
        default:
          throw new Error(`unknown failure kind ${kind}`)
      }
    },
    failSync: (kind: string): never => {
      if (kind === 'type') throw new TypeError('sync bad type')
      throw new QuotaError('sync quota exceeded', 1, 2)
    },

    // ---------------------------------------------------------------- notify

    record: withContext((ctx: Ctx, key: string, value: unknown) => {
      stateOf(ctx).recorded.set(key, value)
    }),
    recorded: withContext((ctx: Ctx, key: string) => {
      const s = stateOf(ctx)
      const value = s.recorded.has(key) ? s.recorded.get(key) : 'nothing recorded'
      s.recorded.delete(key)
      return value
    }),

    // ------------------------------------------------------ timeout / cancel

    /** Waits until its signal fires (then rejects with the signal's reason) or `maxMs` passes (then resolves 'not cancelled'). */
    waitForCancel: withContext((ctx: Ctx, key: string, maxMs: number) => {
      const w = watched(ctx, key)
      w.started.resolve()
      return new Promise<string>((resolve, reject) => {
        const timer = setTimeout(() => {
          ctx.signal.removeEventListener('abort', onAbort)
          resolve('not cancelled')
        }, maxMs)
        const onAbort = () => {
          clearTimeout(timer)
          w.fired.resolve(reasonName(ctx.signal.reason))
          reject(ctx.signal.reason)
        }
        if (ctx.signal.aborted) onAbort()
        else ctx.signal.addEventListener('abort', onAbort, { once: true })
      })
    }),
    /** Resolves once `waitForCancel(key)` has started on this connection (false after `ms`). */
    whenStarted: withContext(async (ctx: Ctx, key: string, ms: number) => {
      return within(watched(ctx, key).started.promise.then(() => true), ms, false)
    }),
    /** What happened to `waitForCancel(key)`: did it start, did its signal fire (and with what reason)? Waits up to `ms` for the signal. */
    cancelReport: withContext(async (ctx: Ctx, key: string, ms: number) => {
      const w = stateOf(ctx).watched.get(key)
      if (!w) return { started: false, fired: false, reason: null }
      const reason = await within<string | null>(w.fired.promise, ms, null)
      stateOf(ctx).watched.delete(key)
      return { started: w.started.settled, fired: reason !== null, reason }
    }),

    // ------------------------------------------------------------- callbacks

    /** Calls the client's `cb` n times in sequence and returns what it answered; then releases it. */
    callMeBack: async (cb: (i: number) => number | Promise<number>, n: number) => {
      const answers: number[] = []
      try {
        for (let i = 0; i < n; i++) answers.push(await cb(i))
      } finally {
        release(cb)
      }
      return answers
    },
    /** Returns a function the client can call: a counter starting at `start`. */
    makeCounter: (start: number) => {
      let n = start
      return () => ++n
    },
    /** Returns a function of ours; `isOwnToken` tells whether what comes back is the very same one. */
    makeToken: withContext((ctx: Ctx) => {
      const token = () => 'token'
      stateOf(ctx).tokens.add(token)
      return token
    }),
    isOwnToken: withContext((ctx: Ctx, value: unknown) => {
      const tokens = stateOf(ctx).tokens
      const own = typeof value === 'function' && tokens.has(value)
      if (own) tokens.delete(value as Function)
      else release(value) // a proxy of the client's own function: not kept, so given back now
      return own
    }),
    /** Keeps the client's reference (until `dropHeld`) and hands it straight back. */
    holdAndReturn: withContext((ctx: Ctx, ref: object) => {
      stateOf(ctx).held.push(ref)
      return ref
    }),
    dropHeld: withContext((ctx: Ctx) => {
      const held = stateOf(ctx).held.splice(0)
      return held.filter((ref) => release(ref)).length
    }),
    /** Releases the client's `cb`, then calls it: the call must fail with ReferenceReleasedError. */
    callAfterRelease: async (cb: () => unknown) => {
      if (!release(cb)) return 'release() returned false'
      try {
        await cb()
        return 'the released reference answered'
      } catch (err) {
        return `${(err as Error).name}:${(err as { code?: string }).code}`
      }
    },

    // ----------------------------------------------- server calls the client

    askClient: withContext(async (ctx: Ctx, name: string) => ctx.connection.remote.greet(name)),
    askClientMissing: withContext(async (ctx: Ctx) => {
      try {
        await (ctx.connection.remote as unknown as { nope(): Promise<unknown> }).nope()
        return 'the missing method answered'
      } catch (err) {
        return `${(err as Error).name}:${(err as { code?: string }).code}`
      }
    }),

    // ------------------------------------------------------------- lifecycle

    /** Closes the calling connection from the server side after `delayMs`, while this very call is pending. */
    hangUp: withContext((ctx: Ctx, delayMs: number) => {
      const timer = setTimeout(() => void ctx.connection.close(), delayMs)
      return new Promise<never>((_, reject) => {
        ctx.signal.addEventListener('abort', () => {
          clearTimeout(timer)
          reject(ctx.signal.reason)
        }, { once: true })
      })
    }),
    // --------------------------------------------------------------- streams

    /** Yields 0 .. n-1. */
    countTo: async function* (n: number) {
      for (let i = 0; i < n; i++) yield i
    },
    /** A ReadableStream of the strings 'r0' .. 'r{n-1}'. */
    readable: (n: number) => {
      let i = 0
      return new ReadableStream<string>({
        pull(controller) {
          if (i < n) controller.enqueue(`r${i++}`)
          else controller.close()
        },
      })
    },
    /** `count` binary chunks of `size` bytes (see `chunkPattern`). */
    chunks: async function* (count: number, size: number) {
      for (let i = 0; i < count; i++) yield chunkPattern(i, size)
    },
    /** A result holding streams: a label, a stream of rows, and a stream of streams. */
    report: () => ({
      label: 'report',
      rows: (async function* () {
        yield { id: 1, at: new Date(1) }
        yield { id: 2, at: new Date(2) }
      })(),
      groups: (async function* () {
        for (const g of ['a', 'b']) yield (async function* () { yield `${g}1`; yield `${g}2` })()
      })(),
    }),
    /** Yields n items, then throws a QuotaError. */
    failAfter: async function* (n: number) {
      for (let i = 0; i < n; i++) yield i
      throw new QuotaError('stream quota exceeded', n, n + 1)
    },
    /** Yields numbers until stopped; `tickerReport(key)` says what it pulled and how it ended. */
    ticker: withContext(async function* (ctx: Ctx, key: string) {
      const t: Ticker = { pulled: 0, finished: deferred(), reason: 'none' }
      stateOf(ctx).tickers.set(key, t)
      ctx.signal.addEventListener('abort', () => (t.reason = reasonName(ctx.signal.reason)), { once: true })
      try {
        for (;;) yield t.pulled++
      } finally {
        t.finished.resolve(t.reason)
      }
    }),
    /** What `ticker(key)` pulled so far, and whether its `finally` ran (waits up to `ms` for it). */
    tickerReport: withContext(async (ctx: Ctx, key: string, ms: number) => {
      const t = stateOf(ctx).tickers.get(key)
      if (!t) return { started: false, pulled: 0, finished: false, reason: null }
      const reason = await within<string | null>(t.finished.promise, ms, null)
      if (reason !== null) stateOf(ctx).tickers.delete(key)
      return { started: true, pulled: t.pulled, finished: reason !== null, reason }
    }),
    /** Yields n items, then closes the calling connection from the server side. */
    hangUpAfter: withContext(async function* (ctx: Ctx, n: number) {
      for (let i = 0; i < n; i++) yield i
      await sleep(20)
      void ctx.connection.close()
      await new Promise<void>((resolve) => ctx.signal.addEventListener('abort', () => resolve(), { once: true }))
    }),
    /** Reads an upload of numbers: their count and sum. */
    sumUpload: async (items: AsyncIterable<number>) => {
      let count = 0
      let sum = 0
      for await (const n of items) {
        count++
        sum += n
      }
      return { count, sum }
    },
    /** Reads an upload of binaries: bytes and a checksum over all of them. */
    bytesUpload: async (upload: { name: string; chunks: AsyncIterable<Uint8Array> }) => {
      let bytes = 0
      let sum = 0
      for await (const chunk of upload.chunks) {
        bytes += chunk.byteLength
        for (let i = 0; i < chunk.length; i++) sum = (sum * 31 + chunk[i]!) >>> 0
      }
      return { name: upload.name, bytes, sum }
    },
    /** Reads the first `n` items of an upload and stops (the uploader's finally must run). */
    takeUpload: async (items: AsyncIterable<number>, n: number) => {
      const got: number[] = []
      if (n > 0) for await (const item of items) if (got.push(item) >= n) break
      return got
    },

    /** The server side's counters for this connection (this call itself is one in flight). */
    stats: withContext((ctx: Ctx): SessionStats => ctx.connection.stats()),
  })
}

export type TestService = ReturnType<typeof createTestService>
