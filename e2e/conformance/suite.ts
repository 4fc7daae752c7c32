/**
 * The transport conformance suite: one list of behaviour cases that every
 * adapter must pass. Framework-agnostic on purpose: a case
 * is a name and an async function of a `connect()` factory and a tiny assert
 * helper, so the same list runs under vitest in Node (in-memory pair, Node
 * client, browser client over `ws`) and inside Chromium (browser client over
 * the native WebSocket), driven by Playwright.
 *
 * `runCase` wraps every case with the leak check: afterwards, on both ends,
 * no pending calls, no handlers left running, and the reference tables back
 * to zero.
 */
import {
  AbortError, ConnectionClosedError, NotFoundError, ParameterError, ReferenceReleasedError, RemoteError, RemoteStream, TimeoutError, WirecallError,
  release, service, type SessionStats,
} from '@wirecall/core'
import type { Connect, TestClient } from './adapters.js'
import { chunkPattern, type ClientService } from './server-service.js'

export type { Connect, TestClient } from './adapters.js'

// ------------------------------------------------------------------ assert

export class AssertionError extends Error {
  override name = 'AssertionError'
}

type ErrorFields = Error & { code?: string; origin?: string; data?: Record<string, unknown> }

/** What `rejects` checks about the error; every given field must match. */
export interface ExpectedError {
  name?: string
  code?: string
  /** A class the error must be an instance of. */
  instanceOf?: abstract new (...args: never[]) => unknown
  /** A class the error must not be an instance of. */
  notInstanceOf?: abstract new (...args: never[]) => unknown
  /** Exact message, or a pattern it must match. */
  message?: string | RegExp
}

export interface Assert {
  ok(value: unknown, what: string): void
  /** `Object.is` equality. */
  equal(actual: unknown, expected: unknown, what: string): void
  /** Structural equality that knows Date, BigInt, Map, Set and Uint8Array (and checks those types). */
  deepEqual(actual: unknown, expected: unknown, what: string): void
  /** The promise must reject with an error matching `expected`; returns the error. */
  rejects(promise: Promise<unknown>, expected: ExpectedError, what: string): Promise<ErrorFields>
}

/** Printable form of a value for failure messages (BigInt, Map, Set and binaries included). */
export function show(value: unknown, depth = 0): string {
  if (depth > 4) return '...'
  if (typeof value === 'bigint') return `${value}n`
  if (typeof value === 'string') return JSON.stringify(value.length > 80 ? `${value.slice(0, 80)}...` : value)
  if (typeof value === 'function') return `[function ${value.name || 'anonymous'}]`
  if (typeof value !== 'object' || value === null) return String(value)
  if (value instanceof Date) return `Date(${value.getTime()})`
  if (value instanceof Uint8Array) return `${value.constructor.name}(${value.byteLength})[${[...value.subarray(0, 8)].join(',')}${value.byteLength > 8 ? ',...' : ''}]`
  if (value instanceof Map) return `Map{${[...value].map(([k, v]) => `${show(k, depth + 1)} => ${show(v, depth + 1)}`).join(', ')}}`
  if (value instanceof Set) return `Set{${[...value].map((v) => show(v, depth + 1)).join(', ')}}`
  if (value instanceof Error) return `${value.name}: ${value.message}`
  if (Array.isArray(value)) return `[${value.map((v) => show(v, depth + 1)).join(', ')}]`
  return `{${Object.entries(value).map(([k, v]) => `${k}: ${show(v, depth + 1)}`).join(', ')}}`
}

function fail(what: string, detail: string): never {
  throw new AssertionError(`${what}: ${detail}`)
}

/** Where two values differ, or undefined when they are equal. */
function difference(a: unknown, b: unknown, at: string): string | undefined {
  if (Object.is(a, b)) return undefined
  const mismatch = () => `at ${at || '(top)'}: got ${show(a)}, expected ${show(b)}`
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return mismatch()
  if (b instanceof Date) return a instanceof Date && a.getTime() === b.getTime() ? undefined : mismatch()
  if (b instanceof Uint8Array) {
    if (!(a instanceof Uint8Array) || a.byteLength !== b.byteLength) return mismatch()
    for (let i = 0; i < b.byteLength; i++) if (a[i] !== b[i]) return `at ${at}[${i}]: byte ${a[i]}, expected ${b[i]}`
    return undefined
  }
  if (b instanceof Map) {
    if (!(a instanceof Map) || a.size !== b.size) return mismatch()
    const ea = [...a]
    const eb = [...b]
    for (let i = 0; i < eb.length; i++) {
      const d = difference(ea[i]![0], eb[i]![0], `${at}<key ${i}>`) ?? difference(ea[i]![1], eb[i]![1], `${at}<value ${i}>`)
      if (d) return d
    }
    return undefined
  }
  if (b instanceof Set) {
    if (!(a instanceof Set) || a.size !== b.size) return mismatch()
    return difference([...a], [...b], `${at}<set>`)
  }
  if (Array.isArray(b)) {
    if (!Array.isArray(a) || a.length !== b.length) return mismatch()
    for (let i = 0; i < b.length; i++) {
      const d = difference(a[i], b[i], `${at}[${i}]`)
      if (d) return d
    }
    return undefined
  }
  if (Array.isArray(a) || a instanceof Date || a instanceof Uint8Array || a instanceof Map || a instanceof Set) return mismatch()
  const ka = Object.keys(a).sort()
  const kb = Object.keys(b).sort()
  if (ka.join('\u0000') !== kb.join('\u0000')) return `at ${at || '(top)'}: keys ${show(ka)}, expected ${show(kb)}`
  for (const k of kb) {
    const d = difference((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k], `${at}.${k}`)
    if (d) return d
  }
  return undefined
}

export const assert: Assert = {
  ok(value, what) {
    if (!value) fail(what, `expected a truthy value, got ${show(value)}`)
  },
  equal(actual, expected, what) {
    if (!Object.is(actual, expected)) fail(what, `got ${show(actual)}, expected ${show(expected)}`)
  },
  deepEqual(actual, expected, what) {
    const d = difference(actual, expected, '')
    if (d) fail(what, d)
  },
  async rejects(promise, expected, what) {
    let error: unknown
    try {
      const value = await promise
      return fail(what, `expected a rejection, but it resolved with ${show(value)}`)
    } catch (err) {
      if (err instanceof AssertionError) throw err
      error = err
    }
    if (!(error instanceof Error)) fail(what, `rejected with a non-Error: ${show(error)}`)
    const e = error as ErrorFields
    const got = `${e.name} (code ${String(e.code)}): ${e.message}`
    if (expected.name !== undefined && e.name !== expected.name) fail(what, `error name ${show(e.name)}, expected ${show(expected.name)} (${got})`)
    if (expected.code !== undefined && e.code !== expected.code) fail(what, `error code ${show(e.code)}, expected ${show(expected.code)} (${got})`)
    if (expected.instanceOf && !(e instanceof expected.instanceOf)) fail(what, `error is not an instance of ${expected.instanceOf.name} (${got})`)
    if (expected.notInstanceOf && e instanceof expected.notInstanceOf) fail(what, `error must not be an instance of ${expected.notInstanceOf.name} (${got})`)
    if (typeof expected.message === 'string' && e.message !== expected.message) fail(what, `message ${show(e.message)}, expected ${show(expected.message)}`)
    if (expected.message instanceof RegExp && !expected.message.test(e.message)) fail(what, `message ${show(e.message)} does not match ${String(expected.message)}`)
    return e
  },
}

// -------------------------------------------------------------------- cases

export interface Case {
  readonly name: string
  run(connect: Connect, assert: Assert): Promise<void>
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms))

/** Read a whole stream into an array. */
async function collect<T>(stream: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = []
  for await (const item of stream) out.push(item)
  return out
}

/** Read a stream to its end, discarding the items. */
async function drain(stream: AsyncIterable<unknown>): Promise<void> {
  for await (const _ of stream) void _
}
let keyCounter = 0
/** A key unique within this process, for per-call server state. */
const uniqueKey = (what: string) => `${what}-${++keyCounter}-${Math.random().toString(36).slice(2, 8)}`

/** The remote without its static type, to call members the service does not declare. */
type Loose = ((...args: unknown[]) => Promise<unknown>) & { readonly [member: string]: Loose }
const loose = (remote: unknown) => remote as Loose

/** The same checksum as the server's `inspect`, computed here. */
function checksum(bytes: Uint8Array): number {
  let sum = 0
  for (let i = 0; i < bytes.length; i++) sum = (sum * 31 + bytes[i]!) >>> 0
  return sum
}

function pattern(length: number, seed: number): Uint8Array {
  const bytes = new Uint8Array(length)
  for (let i = 0; i < length; i++) bytes[i] = (i * 31 + seed + (i >>> 8)) & 0xff
  return bytes
}

const NOT_FOUND: ExpectedError = { name: 'NotFoundError', code: 'WIRECALL_NOT_FOUND', instanceOf: NotFoundError }
const CLOSED: ExpectedError = { name: 'ConnectionClosedError', code: 'WIRECALL_CONNECTION_CLOSED', instanceOf: ConnectionClosedError }
const RELEASED: ExpectedError = { name: 'ReferenceReleasedError', code: 'WIRECALL_REFERENCE_RELEASED', instanceOf: ReferenceReleasedError }

export const cases: readonly Case[] = [
  {
    name: 'call with result',
    async run(connect, assert) {
      const { remote } = await connect()
      assert.equal(await remote.add(3, 4), 7, 'add(3, 4)')
      assert.equal(await remote.echo('héllo ✓ 日本'), 'héllo ✓ 日本', 'echo of a unicode string')
      assert.deepEqual(await remote.echo({ a: [1, { b: null }], t: true, f: 1.5 }), { a: [1, { b: null }], t: true, f: 1.5 }, 'echo of nested data')
      assert.equal(await remote.echo(undefined), null, 'undefined arrives as null')
      assert.equal(await remote.inspect(-0.25), 'number:-0.25', 'the server received the number')
    },
  },
  {
    name: 'nested sub-service path',
    async run(connect, assert) {
      const { remote } = await connect()
      assert.equal(await remote.math.add(2, 3), 5, 'math.add')
      assert.equal(await remote.math.sub(10, 4), 6, 'math.sub')
      assert.equal(await remote.deep.inner.whereAmI(), 'deep.inner.whereAmI', 'a plain object nested two levels deep')
      assert.equal(await remote.calc.mul(6, 7), 42, 'an exposed method of a class instance')
    },
  },
  {
    name: 'NotFoundError for unexposed and missing members',
    async run(connect, assert) {
      const client = await connect()
      const r = loose(client.remote)
      const attempts: [string, () => Promise<unknown>][] = [
        ['nope()', () => r.nope!()],
        ['math.nope()', () => r.math!.nope!()],
        ['calc.secret() (not exposed)', () => r.calc!.secret!()],
        ['math() (a sub-service is not callable)', () => r.math!()],
        ['deep.missing.x()', () => r.deep!.missing!.x!()],
      ]
      // `constructor`, `__proto__` and other language names are never sent by a proxy (they read as
      // undefined locally); the server refusing them is tested with raw frames in core's router tests.
      assert.ok(r.constructor === undefined && r.__proto__ === undefined, 'language names read as undefined on a remote')
      for (const [what, call] of attempts) {
        const err = await assert.rejects(call(), NOT_FOUND, what)
        assert.ok(WirecallError.is(err), `${what}: WirecallError.is`)
        assert.ok(typeof err.origin === 'string' && err.origin.length > 0, `${what}: origin is set (${show(err.origin)})`)
      }
      assert.equal(await client.remote.add(1, 1), 2, 'the connection still works')
    },
  },
  {
    name: 'errors: built-ins as themselves, others as RemoteError with name, message, code, data',
    async run(connect, assert) {
      const { remote } = await connect()
      const type = await assert.rejects(remote.fail('type'), { name: 'TypeError', instanceOf: TypeError, notInstanceOf: RemoteError, message: 'bad type: 42', code: 'WIRECALL_REMOTE_ERROR' }, 'TypeError')
      assert.ok(typeof type.origin === 'string', 'TypeError carries origin')
      await assert.rejects(remote.fail('range', true), { name: 'RangeError', instanceOf: RangeError, message: 'out of range: -1' }, 'RangeError thrown after an await')
      await assert.rejects(remote.failSync('type'), { name: 'TypeError', instanceOf: TypeError, message: 'sync bad type' }, 'TypeError thrown synchronously')

      const custom = await assert.rejects(remote.fail('custom'), { name: 'QuotaError', instanceOf: RemoteError, message: 'quota exceeded', code: 'E_QUOTA' }, 'unregistered user error')
      assert.deepEqual(custom.data, { limit: 5, used: 7 }, 'RemoteError.data holds the thrown error own fields')
      assert.ok(WirecallError.is(custom), 'WirecallError.is(RemoteError)')
      const sync = await assert.rejects(remote.failSync('custom'), { name: 'QuotaError', instanceOf: RemoteError, code: 'E_QUOTA' }, 'user error thrown synchronously')
      assert.deepEqual(sync.data, { limit: 1, used: 2 }, 'data of the synchronous throw')
      assert.equal(await remote.add(2, 2), 4, 'the connection still works')
    },
  },
  {
    // README ("Errors"): "Non-Error throws (strings, objects, undefined) still arrive as a clear
    // RemoteError" (anything else is a RemoteError).
    name: 'errors: a non-Error throw arrives as a RemoteError',
    async run(connect, assert) {
      const { remote } = await connect()
      const err = await assert.rejects(remote.fail('string'), { code: 'WIRECALL_REMOTE_ERROR', message: 'a plain string' }, 'a thrown string')
      assert.ok(typeof err.origin === 'string', 'it carries origin')
      assert.ok(err instanceof RemoteError, `a thrown string arrives as a RemoteError, got ${err.constructor.name} named ${show(err.name)}`)
      assert.ok(WirecallError.is(err), 'WirecallError.is() recognises it')
    },
  },
  {
    name: 'notify',
    async run(connect, assert) {
      const client = await connect()
      const key = uniqueKey('notify')
      const returned: unknown = (client.notify.record as (k: string, v: unknown) => unknown)(key, { n: 1, when: new Date(5) })
      assert.equal(returned, undefined, 'notify returns nothing (no promise)')
      assert.equal(client.stats().pendingCalls, 0, 'a notification is not a pending call')
      // Same connection, in order: the notification is handled before this call arrives.
      assert.deepEqual(await client.remote.recorded(key), { n: 1, when: new Date(5) }, 'what the server recorded')
      loose(client.notify).noSuchMethod!('ignored')
      client.notify.math.add(1, 2)
      assert.equal(await client.remote.add(5, 5), 10, 'notifications to missing or plain methods do not disturb the connection')
    },
  },
  {
    name: 'timeout: with({ timeout }) rejects with TimeoutError and cancels the handler',
    async run(connect, assert) {
      const client = await connect()
      const key = uniqueKey('timeout')
      const started = Date.now()
      await assert.rejects(
        client.with({ timeout: 120 }).remote.waitForCancel(key, 10_000),
        { name: 'TimeoutError', code: 'WIRECALL_TIMEOUT', instanceOf: TimeoutError },
        'per-call timeout',
      )
      const elapsed = Date.now() - started
      assert.ok(elapsed >= 100 && elapsed < 5_000, `rejected after the timeout, not before or much later (${elapsed} ms)`)
      assert.deepEqual(await client.remote.cancelReport(key, 3_000), { started: true, fired: true, reason: 'AbortError' }, "the handler's ctx.signal fired")

      // The client's default timeout applies the same way.
      const short = await connect({ timeout: 120 })
      const key2 = uniqueKey('timeout-default')
      await assert.rejects(short.remote.waitForCancel(key2, 10_000), { name: 'TimeoutError', instanceOf: TimeoutError }, 'session-wide timeout')
      assert.deepEqual(await short.with({ timeout: 5_000 }).remote.cancelReport(key2, 3_000), { started: true, fired: true, reason: 'AbortError' }, 'cancel sent on session timeout')
      assert.equal(await client.remote.add(1, 2), 3, 'the connection still works')
    },
  },
  {
    name: "abort: with({ signal }) rejects with AbortError and fires the handler's ctx.signal",
    async run(connect, assert) {
      const client = await connect()
      const key = uniqueKey('abort')
      const ac = new AbortController()
      const call = client.with({ signal: ac.signal }).remote.waitForCancel(key, 10_000)
      assert.equal(await client.remote.whenStarted(key, 3_000), true, 'the handler started')
      ac.abort(new Error('user gave up'))
      await assert.rejects(call, { name: 'AbortError', code: 'WIRECALL_ABORTED', instanceOf: AbortError, message: /user gave up/ }, 'aborted call')
      assert.equal(client.stats().pendingCalls, 0, 'the aborted call is no longer pending')
      assert.deepEqual(await client.remote.cancelReport(key, 3_000), { started: true, fired: true, reason: 'AbortError' }, "the handler's ctx.signal fired")

      // An already aborted signal: rejected at once, nothing reaches the server.
      const key2 = uniqueKey('pre-aborted')
      const done = new AbortController()
      done.abort()
      await assert.rejects(client.with({ signal: done.signal }).remote.waitForCancel(key2, 10_000), { name: 'AbortError', instanceOf: AbortError }, 'already aborted')
      assert.deepEqual(await client.remote.cancelReport(key2, 0), { started: false, fired: false, reason: null }, 'the server never saw the pre-aborted call')

      // Aborting after the reply changes nothing.
      const late = new AbortController()
      assert.equal(await client.with({ signal: late.signal }).remote.add(20, 22), 42, 'call with an unused signal')
      late.abort()
      assert.equal(await client.remote.add(1, 1), 2, 'the connection still works')
    },
  },
  {
    name: 'callbacks: the server calls a client function N times',
    async run(connect, assert) {
      const client = await connect()
      const seen: number[] = []
      const answers = await client.remote.callMeBack((i: number) => {
        seen.push(i)
        return i * 10
      }, 5)
      assert.deepEqual(answers, [0, 10, 20, 30, 40], 'what the callback answered, in order')
      assert.deepEqual(seen, [0, 1, 2, 3, 4], 'the client function ran once per call')
      const asyncAnswers = await client.remote.callMeBack(async (i: number) => {
        await sleep(1)
        return -i
      }, 3)
      assert.deepEqual(asyncAnswers, [0, -1, -2], 'an async client callback')
      assert.equal(await client.remote.callAfterRelease(() => 'should not run'), 'ReferenceReleasedError:WIRECALL_REFERENCE_RELEASED', 'the server calling a reference it released')
    },
  },
  {
    name: 'callbacks: the server returns a function the client calls; release makes it reject',
    async run(connect, assert) {
      const client = await connect()
      const counter = await client.remote.makeCounter(10)
      assert.equal(typeof counter, 'function', 'a function result arrives callable')
      assert.equal(await counter(), 11, 'first call')
      assert.equal(await counter(), 12, 'second call')
      assert.equal(await counter(), 13, 'third call')
      assert.equal(client.stats().importedRefs, 1, 'the client holds one imported reference')
      assert.equal(release(counter), true, 'release() of a live reference')
      await assert.rejects(counter(), RELEASED, 'calling a released reference')
      assert.equal(release(counter), false, 'a second release() is a no-op')

      const other = await client.remote.makeCounter(0)
      assert.equal(await other(), 1, 'a second counter')
      other[Symbol.dispose]()
      await assert.rejects(other(), RELEASED, 'calling a disposed reference')
    },
  },
  {
    name: 'callbacks: a reference passed back to its owner arrives as the original',
    async run(connect, assert) {
      const client = await connect()
      const fn = () => 'mine'
      assert.equal(await client.remote.holdAndReturn(fn), fn, 'a client function handed back by the server')
      const svc = service({ ping: () => 'pong' })
      assert.equal(await client.remote.holdAndReturn(svc), svc, 'a client service handed back by the server')
      assert.equal(await client.remote.dropHeld(), 2, 'the server released both references it held')

      const token = await client.remote.makeToken()
      assert.equal(await client.remote.isOwnToken(token), true, 'a server function handed back by the client is the original')
      assert.equal(await client.remote.isOwnToken(() => 'forged'), false, 'a client function is not the server token')
      release(token)
    },
  },
  {
    name: "the server calls the client's registered service through conn.remote",
    async run(connect, assert) {
      const client = await connect({ service: service<ClientService>({ greet: (name: string) => `hello ${name}` }) })
      assert.equal(await client.remote.askClient('Ada'), 'hello Ada', 'server -> client call during a client -> server call')
      assert.equal(await client.remote.askClientMissing(), 'NotFoundError:WIRECALL_NOT_FOUND', 'the server calling a missing client method')

      const bare = await connect()
      await assert.rejects(bare.remote.askClient('Bob'), NOT_FOUND, 'a client with no service: the server gets NotFoundError and passes it on')
    },
  },
  {
    name: 'binary: Uint8Array round trip, small and 1 MiB',
    async run(connect, assert) {
      const { remote } = await connect()
      const small = Uint8Array.of(0, 1, 2, 127, 128, 254, 255)
      assert.deepEqual(await remote.echo(small), small, 'small Uint8Array')
      assert.equal(await remote.inspect(small), `Uint8Array:7:${checksum(small)}`, 'the server received a Uint8Array with the same bytes')
      assert.deepEqual(await remote.echo(new Uint8Array(0)), new Uint8Array(0), 'empty Uint8Array')

      const big = pattern(1024 * 1024, 7)
      const back = await remote.echo(big)
      assert.ok(back instanceof Uint8Array, `1 MiB comes back as a Uint8Array (${show(back)})`)
      assert.deepEqual(back, big, '1 MiB round trip')
      assert.equal(await remote.inspect(big), `Uint8Array:${big.byteLength}:${checksum(big)}`, 'the server received the 1 MiB bytes intact')

      const view = big.subarray(1000, 71_000)
      assert.deepEqual(await remote.echo(view), view, 'a view with a byte offset sends only its bytes')
      assert.deepEqual(await remote.echo({ parts: [small, view] }), { parts: [small, view] }, 'binaries nested in data')
    },
  },
  {
    name: 'values: Date, BigInt, Map, Set',
    async run(connect, assert) {
      const { remote } = await connect()
      const dates = [new Date(Date.UTC(2024, 1, 29, 12, 30, 45, 123)), new Date(0), new Date(-86_400_001)]
      for (const d of dates) {
        assert.deepEqual(await remote.echo(d), d, `Date ${d.toISOString()}`)
        assert.equal(await remote.inspect(d), `Date:${d.getTime()}`, `the server received Date ${d.toISOString()}`)
      }
      const bigints = [0n, 42n, -(2n ** 64n), 2n ** 70n + 1n]
      for (const b of bigints) {
        assert.equal(await remote.echo(b), b, `BigInt ${b}`)
        assert.equal(await remote.inspect(b), `bigint:${b}`, `the server received BigInt ${b}`)
      }
      const map = new Map<unknown, unknown>([[1, 'one'], ['two', 2n], [true, new Date(7)]])
      assert.deepEqual(await remote.echo(map), map, 'Map with non-string keys')
      assert.equal(await remote.inspect(map), 'Map:number:1=>string:one,string:two=>bigint:2,boolean:true=>Date:7', 'the server received the Map')
      const set = new Set<unknown>([1, 'a', 3n])
      assert.deepEqual(await remote.echo(set), set, 'Set')
      assert.equal(await remote.inspect(set), 'Set:number:1,string:a,bigint:3', 'the server received the Set')
      const nested = { when: dates[0], tags: new Set(['x']), index: new Map([['k', [1n, new Uint8Array([9])]]]) }
      assert.deepEqual(await remote.echo(nested), nested, 'all of them nested')
    },
  },
  {
    name: '200 concurrent calls',
    async run(connect, assert) {
      const client = await connect()
      const calls = Array.from({ length: 200 }, (_, i) => (i % 2 ? client.remote.slowAdd(i, 1000, i % 7) : client.remote.add(i, 1000)))
      assert.equal(client.stats().pendingCalls, 200, 'all 200 are pending at once')
      const results = await Promise.all(calls)
      results.forEach((r, i) => assert.equal(r, i + 1000, `result of call ${i}`))
      assert.equal(client.stats().pendingCalls, 0, 'none pending afterwards')
    },
  },
  {
    name: 'connection closed by the server mid-call gives ConnectionClosedError',
    async run(connect, assert) {
      const client = await connect()
      const key = uniqueKey('hangup')
      const hangUp = client.remote.hangUp(50)
      const other = client.remote.waitForCancel(key, 10_000)
      await assert.rejects(hangUp, CLOSED, 'the call during which the server closed')
      await assert.rejects(other, CLOSED, 'another call pending at the close')
      assert.equal(client.stats().pendingCalls, 0, 'nothing pending after the close')
      assert.equal(client.isOpen(), false, 'the client saw the close')

      const next = await connect()
      assert.equal(await next.remote.add(1, 2), 3, 'the server still serves new connections')
      await next.close()
      await assert.rejects(next.remote.add(1, 2), CLOSED, 'a call on a client closed by its owner')
    },
  },

  // ---------------------------------------------------------------- streams
  {
    name: 'streams: a result stream arrives in order (async generator, ReadableStream, nested in a result)',
    async run(connect, assert) {
      const { remote } = await connect()
      const numbers = await remote.countTo(10_000)
      assert.ok(numbers instanceof RemoteStream, 'the result is a RemoteStream')
      let expected = 0
      for await (const n of numbers) {
        if (n !== expected) assert.equal(n, expected, `item ${expected}`)
        expected++
      }
      assert.equal(expected, 10_000, 'every item arrived')
      assert.deepEqual(await collect(await remote.readable(5)), ['r0', 'r1', 'r2', 'r3', 'r4'], 'a ReadableStream result')
      const report = await remote.report()
      assert.equal(report.label, 'report', 'data next to the streams')
      assert.deepEqual(await collect(report.rows), [{ id: 1, at: new Date(1) }, { id: 2, at: new Date(2) }], 'rows, with their dates')
      const groups: string[][] = []
      for await (const group of report.groups) groups.push(await collect(group))
      assert.deepEqual(groups, [['a1', 'a2'], ['b1', 'b2']], 'a stream of streams')
    },
  },
  {
    name: 'streams: binary chunks (64 KiB and 1 MiB) arrive intact',
    async run(connect, assert) {
      const { remote } = await connect()
      for (const [count, size] of [[32, 64 * 1024], [4, 1024 * 1024]] as const) {
        let i = 0
        for await (const chunk of await remote.chunks(count, size)) {
          assert.deepEqual(chunk, chunkPattern(i, size), `chunk ${i} of ${size} bytes`)
          i++
        }
        assert.equal(i, count, `${count} chunks of ${size} bytes`)
      }
    },
  },
  {
    name: "streams: break stops the server's generator (finally runs, signal fires), and so does the call's AbortSignal",
    async run(connect, assert) {
      const client = await connect()
      const key = uniqueKey('ticker-break')
      const got: number[] = []
      for await (const n of await client.remote.ticker(key)) if (got.push(n) === 10) break
      assert.deepEqual(got, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9], 'the first ten items')
      const report = await client.remote.tickerReport(key, 3_000)
      assert.deepEqual([report.finished, report.reason], [true, 'AbortError'], "the generator's finally ran after its signal fired")

      const key2 = uniqueKey('ticker-abort')
      const ac = new AbortController()
      const stream = await client.with({ signal: ac.signal }).remote.ticker(key2)
      assert.equal((await stream.next()).value, 0, 'the first item')
      ac.abort(new Error('user left the page'))
      const err = await assert.rejects(drain(stream), { name: 'AbortError', instanceOf: AbortError, message: /user left the page/ }, 'reading on after the abort')
      assert.ok(WirecallError.is(err), 'an AbortError of wirecall')
      const report2 = await client.remote.tickerReport(key2, 3_000)
      assert.deepEqual([report2.finished, report2.reason], [true, 'AbortError'], 'the aborted generator stopped')
      assert.equal(await client.remote.add(2, 2), 4, 'the connection still works')
    },
  },
  {
    name: 'streams: backpressure: a reader that stops keeps the server producer within the window',
    async run(connect, assert) {
      const client = await connect()
      const key = uniqueKey('ticker-slow')
      const stream = await client.remote.ticker(key)
      for (let i = 0; i < 10; i++) await stream.next()
      await sleep(200)
      const first = await client.remote.tickerReport(key, 0)
      await sleep(300)
      const second = await client.remote.tickerReport(key, 0)
      assert.equal(second.pulled, first.pulled, 'the producer is paused while the reader is')
      assert.ok(first.pulled <= 10 + 256, `pulled at most the window ahead of the reader (${first.pulled})`)
      await stream.return()
      const report = await client.remote.tickerReport(key, 3_000)
      assert.equal(report.finished, true, 'return() stopped it')
    },
  },
  {
    name: 'streams: an error thrown mid-stream arrives after the items before it, as a call error would',
    async run(connect, assert) {
      const { remote } = await connect()
      const got: number[] = []
      const err = await assert.rejects((async () => {
        for await (const n of await remote.failAfter(3)) got.push(n)
      })(), { name: 'QuotaError', instanceOf: RemoteError, code: 'E_QUOTA', message: 'stream quota exceeded' }, 'the stream error')
      assert.deepEqual(got, [0, 1, 2], 'the items before the error')
      assert.deepEqual(err.data, { limit: 3, used: 4 }, 'its data')
      assert.ok(typeof err.origin === 'string', 'its origin')
    },
  },
  {
    name: 'streams: uploads (an async generator, a ReadableStream of binaries nested in an object) and an early stop',
    async run(connect, assert) {
      const { remote } = await connect()
      async function* numbers() {
        for (let i = 1; i <= 5_000; i++) yield i
      }
      assert.deepEqual(await remote.sumUpload(numbers()), { count: 5_000, sum: 12_502_500 }, 'an async generator upload')
      let k = 0
      const chunks = new ReadableStream<Uint8Array>({
        pull(controller) {
          if (k < 8) controller.enqueue(chunkPattern(k++, 100_000))
          else controller.close()
        },
      })
      let expectedSum = 0
      for (let i = 0; i < 8; i++) for (const b of chunkPattern(i, 100_000)) expectedSum = (expectedSum * 31 + b) >>> 0
      assert.deepEqual(
        await remote.bytesUpload({ name: 'file.bin', chunks: chunks as unknown as AsyncIterable<Uint8Array> }),
        { name: 'file.bin', bytes: 800_000, sum: expectedSum },
        'a ReadableStream of binaries inside an object',
      )
      let finallyRan = false
      async function* endless() {
        try {
          for (let i = 0; ; i++) yield i
        } finally {
          finallyRan = true
        }
      }
      assert.deepEqual(await remote.takeUpload(endless(), 3), [0, 1, 2], 'the handler read three items')
      const deadline = Date.now() + 3_000
      while (!finallyRan && Date.now() < deadline) await sleep(10)
      assert.ok(finallyRan, "the upload generator's finally ran when the handler stopped reading")
    },
  },
  {
    name: 'streams: the connection closing ends a stream with ConnectionClosedError after the items before it',
    async run(connect, assert) {
      const client = await connect()
      const got: number[] = []
      await assert.rejects((async () => {
        for await (const n of await client.remote.hangUpAfter(5)) got.push(n)
      })(), CLOSED, 'reading past the close')
      assert.deepEqual(got, [0, 1, 2, 3, 4], 'the items before the close')
    },
  },
  {
    name: 'validated parameters: a bad argument gets ParameterError with issues, and the handler never runs',
    async run(connect, assert) {
      const { remote } = await connect()
      const r = loose(remote)
      assert.equal(await remote.checked.add(3, 4), 7, 'good arguments pass')
      const err = await assert.rejects(r.checked!.add!('3', 4), { name: 'ParameterError', code: 'WIRECALL_BAD_PARAMETERS', instanceOf: ParameterError }, 'a string for a number')
      const issues = (err.data as { issues?: { path: unknown[]; message: unknown }[] } | undefined)?.issues
      assert.deepEqual(issues?.map((i) => i.path), [[0]], 'the issue points at argument 0')
      assert.equal(typeof issues?.[0]?.message, 'string', 'the issue has a message')
      await assert.rejects(r.checked!.add!(1, 2, 3), { name: 'ParameterError', message: /at most 2 arguments/ }, 'too many arguments')
      await assert.rejects(r.checked!.area!({ w: 'wide' }), { name: 'ParameterError' }, 'a bad field of one object argument')
      assert.equal(await remote.checked.area({ w: 3 }), 3, 'defaults from the schema reach the handler')
      assert.equal(await remote.checked.runs(), 2, 'only the good calls ran a handler')
    },
  },
]

// ------------------------------------------------------------------ running

/** Wait (bounded) until `check` holds; returns the last value it looked at otherwise. */
async function settles<T>(read: () => Promise<T> | T, check: (value: T) => boolean, maxMs: number): Promise<{ ok: boolean; value: T }> {
  const deadline = Date.now() + maxMs
  for (;;) {
    const value = await read()
    if (check(value)) return { ok: true, value }
    if (Date.now() > deadline) return { ok: false, value }
    await sleep(10)
  }
}

const noStreams = (s: SessionStats) => s.outgoingStreams === 0 && s.incomingStreams === 0
const idleClient = (s: SessionStats) => s.pendingCalls === 0 && s.inFlightCalls === 0 && s.exportedRefs === 0 && s.importedRefs === 0 && noStreams(s)
// The server's stats are read by a call, which is itself in flight there.
const idleServer = (s: SessionStats) => s.pendingCalls === 0 && s.inFlightCalls === 1 && s.exportedRefs === 0 && s.importedRefs === 0 && noStreams(s)
const brief = (s: SessionStats) =>
  `pendingCalls ${s.pendingCalls}, inFlightCalls ${s.inFlightCalls}, exportedRefs ${s.exportedRefs}, importedRefs ${s.importedRefs}, ` +
  `outgoingStreams ${s.outgoingStreams}, incomingStreams ${s.incomingStreams}`

/** The leak check: both ends of one client back to zero (the server's end only while connected). */
export async function checkIdle(client: TestClient, maxMs = 2_000): Promise<void> {
  const mine = await settles(() => client.stats(), idleClient, maxMs)
  if (!mine.ok) throw new AssertionError(`leak check (${client.label}): client side not back to zero: ${brief(mine.value)}`)
  if (!client.isOpen()) return
  const theirs = await settles(() => client.with({ timeout: 5_000 }).remote.stats(), idleServer, maxMs)
  if (!theirs.ok) throw new AssertionError(`leak check (${client.label}): server side not back to zero: ${brief(theirs.value)} (1 in flight is the stats call)`)
}

/** Run one case: every client it connects is leak-checked, then closed, whatever happened. */
export async function runCase(c: Case, connect: Connect): Promise<void> {
  const clients: TestClient[] = []
  const tracked: Connect = async (options) => {
    const client = await connect(options)
    clients.push(client)
    return client
  }
  let failed = true
  try {
    await c.run(tracked, assert)
    for (const client of clients) await checkIdle(client)
    failed = false
  } finally {
    const closing = await Promise.allSettled(clients.map((client) => client.close()))
    const bad = closing.find((r): r is PromiseRejectedResult => r.status === 'rejected')
    if (bad && !failed) throw new AssertionError(`closing a client failed: ${show(bad.reason)}`)
  }
}

/** Look a case up by name (the browser page runs cases by name). */
export function caseNamed(name: string): Case {
  const c = cases.find((k) => k.name === name)
  if (!c) throw new Error(`no conformance case named ${JSON.stringify(name)}`)
  return c
}
