/**
 * A handler's throw reaches the caller as an exception, never as a hang:
 * RemoteError fields, the translation table, built-ins, non-Error throws,
 * library errors and their stable codes, and server-side logging.
 */
import { describe, expect, test, vi } from 'vitest'
import {
  AbortError, ConnectionClosedError, ErrorCode, NotFoundError, OverloadedError, ParameterError, ProtocolError,
  ReferenceReleasedError, RemoteError, TimeoutError, WirecallError, service,
} from '../src/index.js'
import { pair, silent } from './harness.js'

class DbError extends Error {
  table = 'users'
  retries = 3
  constructor(message: string) {
    super(message)
    this.name = 'DbError'
  }
}

const constructed = vi.fn()
class QuotaError extends Error {
  limit: number
  constructor(message: string, limit: number) {
    super(message)
    constructed()
    this.name = 'QuotaError'
    this.limit = limit
  }
}

function failing(thrown: () => unknown) {
  return service({
    sync: () => {
      throw thrown()
    },
    async: async () => {
      await Promise.resolve()
      throw thrown()
    },
    rejects: () => Promise.reject(thrown()),
  })
}

const catchOf = (p: Promise<unknown>) => p.then(
  (value) => { throw new Error(`expected a rejection, got ${String(value)}`) },
  (err: unknown) => err as Error & Record<string, unknown>,
)

describe('RemoteError', () => {
  test('carries name, message, code, origin and data; no stack unless the peer exposes stacks', async () => {
    const { client } = pair({ service: failing(() => new DbError('no such row')) })
    for (const how of ['sync', 'async', 'rejects']) {
      const err = await catchOf(client.call(how, []))
      expect(err).toBeInstanceOf(RemoteError)
      expect(err).toBeInstanceOf(WirecallError)
      expect(WirecallError.is(err)).toBe(true)
      expect(err.name).toBe('DbError')
      expect(err.message).toBe('no such row')
      expect(err.code).toBe(ErrorCode.REMOTE)
      expect(err.origin).toBe('memory-b') // the server, as the client's transport names it
      expect(err.data).toEqual({ table: 'users', retries: 3 })
      expect(err.remoteStack).toBeUndefined()
    }
  })

  test('remoteStack is the thrower\'s stack when exposeErrorStacks is on', async () => {
    function deepInsideTheServer(): never {
      throw new DbError('with stack')
    }
    const { client } = pair({ service: service({ boom: () => deepInsideTheServer() }), exposeErrorStacks: true })
    const err = await catchOf(client.call('boom', []))
    expect(err.remoteStack).toContain('DbError: with stack')
    expect(err.remoteStack).toContain('deepInsideTheServer')
    // The local stack is the caller's, not the remote one pasted in.
    expect(err.stack).not.toContain('deepInsideTheServer')
  })

  test('a thrown error\'s own string code is kept', async () => {
    const { client } = pair({ service: failing(() => Object.assign(new Error('denied'), { code: 'E_DENIED' })) })
    const err = await catchOf(client.call('sync', []))
    expect(err).toBeInstanceOf(RemoteError)
    expect(err.code).toBe('E_DENIED')
    expect(err.origin).toBe('memory-b')
    expect(err.data).toBeUndefined()
  })

  test('error data that cannot be encoded is dropped, the error still arrives', async () => {
    const circular: Record<string, unknown> = {}
    circular.self = circular
    const { client } = pair({ service: failing(() => Object.assign(new DbError('circular'), { circular })) })
    const err = await catchOf(client.call('sync', []))
    expect(err.name).toBe('DbError')
    expect(err.message).toBe('circular')
  })

  test('functions and symbols in error fields are skipped, not sent as references', async () => {
    const { client, server } = pair({ service: failing(() => Object.assign(new DbError('x'), { fn: () => 1, sym: Symbol('s') })) })
    const err = await catchOf(client.call('sync', []))
    expect(err.data).toEqual({ table: 'users', retries: 3 })
    expect(server.stats().exportedRefs).toBe(0)
  })
})

describe('translation table', () => {
  test('registered classes are re-raised as themselves without running their constructor', async () => {
    constructed.mockClear()
    const { client } = pair(
      { service: failing(() => new QuotaError('over quota', 10)), exposeErrorStacks: true },
      { errors: { QuotaError } },
    )
    constructed.mockClear()
    const err = await catchOf(client.call('async', []))
    // Once, by the server's handler; the client rebuilds it without running the constructor.
    expect(constructed).toHaveBeenCalledTimes(1)
    expect(err).toBeInstanceOf(QuotaError)
    expect(err).toBeInstanceOf(Error)
    expect(err.message).toBe('over quota')
    expect((err as unknown as QuotaError).limit).toBe(10)
    expect(err.origin).toBe('memory-b')
    expect(err.code).toBe(ErrorCode.REMOTE)
    expect(err.remoteStack).toContain('QuotaError: over quota')
  })

  test('unregistered classes stay RemoteError; the table is looked up by own keys only', async () => {
    const { client } = pair(
      { service: failing(() => Object.assign(new Error('x'), { name: 'toString' })) },
      { errors: { QuotaError } },
    )
    const err = await catchOf(client.call('sync', []))
    expect(err).toBeInstanceOf(RemoteError)
    expect(err.name).toBe('toString')
  })

  test.each([TypeError, RangeError, SyntaxError, ReferenceError, URIError, EvalError])('built-in %o is translated by default', async (Cls) => {
    const { client } = pair({ service: failing(() => new Cls('built in')) })
    const err = await catchOf(client.call('sync', []))
    expect(err).toBeInstanceOf(Cls)
    expect(err.constructor).toBe(Cls)
    expect(err.message).toBe('built in')
    expect(err.origin).toBe('memory-b')
    expect(err.code).toBe(ErrorCode.REMOTE)
  })

  test('a real runtime TypeError from the handler arrives as TypeError', async () => {
    const { client } = pair({ service: service({ oops: () => (null as unknown as { x: number }).x }) })
    const err = await catchOf(client.call('oops', []))
    expect(err).toBeInstanceOf(TypeError)
    expect(err.message).toMatch(/null/)
  })
})

describe('non-Error throws still give the caller a clear error', () => {
  // Anything that is not a built-in subclass or a registered class arrives as a
  // RemoteError, so `instanceof RemoteError` marks a remote failure (as do `code` and `origin`).
  const cases: [string, () => unknown, RegExp][] = [
    ['a string', () => 'plain string', /^plain string$/],
    ['a plain object', () => ({ reason: 'quota', n: 1 }), /non-Error value thrown: .*quota/],
    ['a number', () => 42, /42/],
    ['undefined', () => undefined, /undefined/],
    ['null', () => null, /null/],
    ['false', () => false, /false/],
  ]
  for (const [label, value, message] of cases) {
    for (const how of ['sync', 'async', 'rejects']) {
      test(`${how} throw of ${label}`, async () => {
        const { client } = pair({ service: failing(value) })
        const err = await catchOf(client.call(how, []))
        expect(err).toBeInstanceOf(RemoteError)
        expect(err.name).toBe('Error')
        expect(err.code).toBe(ErrorCode.REMOTE)
        expect(err.origin).toBe('memory-b')
        expect(err.message).toMatch(message)
      })
    }
  }

  test('a thrown plain object keeps its fields as data', async () => {
    const { client } = pair({ service: failing(() => ({ reason: 'quota', n: 1 })) })
    const err = await catchOf(client.call('sync', []))
    expect(err.data).toEqual({ reason: 'quota', n: 1 })
  })
})

describe('library errors', () => {
  test('codes are stable, unique and prefixed', () => {
    const codes = Object.values(ErrorCode)
    expect(new Set(codes).size).toBe(codes.length)
    for (const code of codes) expect(code).toMatch(/^WIRECALL_[A-Z_]+$/)
    const pairs: [new (m: string) => WirecallError, string, string][] = [
      [NotFoundError, 'NotFoundError', ErrorCode.NOT_FOUND],
      [ParameterError, 'ParameterError', ErrorCode.BAD_PARAMETERS],
      [TimeoutError, 'TimeoutError', ErrorCode.TIMEOUT],
      [AbortError, 'AbortError', ErrorCode.ABORTED],
      [ConnectionClosedError, 'ConnectionClosedError', ErrorCode.CONNECTION_CLOSED],
      [ProtocolError, 'ProtocolError', ErrorCode.PROTOCOL],
      [OverloadedError, 'OverloadedError', ErrorCode.OVERLOADED],
      [ReferenceReleasedError, 'ReferenceReleasedError', ErrorCode.REFERENCE_RELEASED],
    ]
    for (const [Cls, name, code] of pairs) {
      const err = new Cls('m')
      expect(err.name).toBe(name)
      expect(err.code).toBe(code)
      expect(err).toBeInstanceOf(WirecallError)
      expect(err).toBeInstanceOf(Error)
      expect(WirecallError.is(err)).toBe(true)
    }
    expect(new RemoteError('m').code).toBe(ErrorCode.REMOTE)
  })

  test('WirecallError.is recognises errors by brand, not prototype, and rejects look-alikes', () => {
    const foreign = Object.assign(new Error('x'), { code: ErrorCode.NOT_FOUND, name: 'NotFoundError' })
    expect(WirecallError.is(foreign)).toBe(false)
    const crossRealm = Object.create(null) as Record<symbol, unknown>
    Object.defineProperty(crossRealm, Symbol.for('wirecall.error'), { value: true })
    expect(WirecallError.is(crossRealm)).toBe(true)
    expect(WirecallError.is(null)).toBe(false)
    expect(WirecallError.is('NotFoundError')).toBe(false)
  })

  test('a missing method is NotFoundError with its code, on the caller', async () => {
    const { client } = pair({ service: service({}) })
    const err = await catchOf(client.call('nope', []))
    expect(err).toBeInstanceOf(NotFoundError)
    expect(err.code).toBe(ErrorCode.NOT_FOUND)
    expect(err.message).toContain('nope')
    expect(err.origin).toBe('memory-b')
  })

  test('library errors carry no stray data', async () => {
    const { client } = pair({ service: failing(() => new ParameterError('bad')) })
    expect((await catchOf(client.call('missing', []))).data).toBeUndefined()
    expect((await catchOf(client.call('sync', []))).data).toBeUndefined()
  })

  test('an error forwarded through a middle tier keeps name, code and data, not nested', async () => {
    // back <- middle <- front: the middle handler awaits the back and lets its error propagate.
    const back = pair({ service: failing(() => Object.assign(new DbError('deep'), { code: 'E_DB' })) })
    const middleApi = service({ relay: () => back.client.call('sync', []) })
    const front = pair({ service: middleApi })
    const err = await catchOf(front.client.call('relay', []))
    expect(err).toBeInstanceOf(RemoteError)
    expect(err.name).toBe('DbError')
    expect(err.message).toBe('deep')
    expect(err.code).toBe('E_DB')
    expect(err.data).toEqual({ table: 'users', retries: 3 })
  })

  test.each([
    ['a built-in', () => Object.assign(new RangeError('r'), { limit: 5 }), RangeError, { limit: 5 }],
    ['a built-in without data', () => new TypeError('t'), TypeError, undefined],
    ['a library error', () => new ParameterError('p'), ParameterError, undefined],
  ])('%s forwarded through a middle tier keeps its data, not nested', async (_label, thrown, Cls, data) => {
    const back = pair({ service: failing(thrown) })
    const front = pair({ service: service({ relay: () => back.client.call('sync', []) }) })
    const err = await catchOf(front.client.call('relay', []))
    expect(err).toBeInstanceOf(Cls)
    expect(err.data).toEqual(data)
  })

  test('a library error thrown by a handler is re-raised as itself', async () => {
    const { client } = pair({ service: failing(() => new ParameterError('age must be positive')) })
    const err = await catchOf(client.call('sync', []))
    expect(err).toBeInstanceOf(ParameterError)
    expect(err.code).toBe(ErrorCode.BAD_PARAMETERS)
    expect(err.message).toBe('age must be positive')
  })

  test('a user error merely named like a library error is not promoted to it', async () => {
    const { client } = pair({ service: failing(() => Object.assign(new Error('fake'), { name: 'TimeoutError' })) })
    const err = await catchOf(client.call('sync', []))
    expect(err).not.toBeInstanceOf(TimeoutError)
    expect(err).toBeInstanceOf(RemoteError)
    expect(err.name).toBe('TimeoutError')
  })

  test('a DOMException TimeoutError from the handler\'s own fetch is not this call timing out', async () => {
    const { client } = pair({ service: failing(() => new DOMException('The operation timed out.', 'TimeoutError')) })
    const err = await catchOf(client.call('sync', []))
    expect(err).not.toBeInstanceOf(TimeoutError)
    expect(err.name).toBe('TimeoutError')
    expect(err.code).toBe(ErrorCode.REMOTE)
  })

  test('calling the remote root is a ParameterError, not a hang', async () => {
    const { client } = pair({ service: service({}) })
    await expect((client.remote as unknown as () => Promise<unknown>)()).rejects.toBeInstanceOf(ParameterError)
  })

  test('arguments that cannot be encoded reject locally with ParameterError and send nothing', async () => {
    const { client, clientTransport } = pair({ service: service({ echo: (x: unknown) => x }) })
    clientTransport.log = true
    const err = await catchOf(client.call('echo', [Symbol('nope')]))
    expect(err).toBeInstanceOf(ParameterError)
    expect(clientTransport.sent).toHaveLength(0)
  })

  test('a result that cannot be encoded gives the caller an error, not a hang', async () => {
    const { client } = pair({ service: service({ bad: () => Symbol('nope') }) })
    const err = await catchOf(client.call('bad', []))
    expect(err).toBeInstanceOf(TypeError)
    expect(err.message).toMatch(/could not be encoded/)
  })
})

describe('server-side logging of handler exceptions', () => {
  test('off by default', async () => {
    const { client } = pair({ service: failing(() => new DbError('x')) })
    await catchOf(client.call('sync', []))
    expect(silent.errors).toHaveLength(0)
  })

  test('logErrors: true logs user errors but not library errors', async () => {
    const logger = { warn: vi.fn(), error: vi.fn() }
    const api = service({ db: () => { throw new DbError('x') }, param: () => { throw new ParameterError('p') } })
    const { client } = pair({ service: api, logErrors: true, logger })
    await catchOf(client.call('db', []))
    await catchOf(client.call('param', []))
    await catchOf(client.call('missing', []))
    expect(logger.error).toHaveBeenCalledTimes(1)
    expect(logger.error.mock.calls[0]![0]).toContain('db')
    expect(logger.error.mock.calls[0]![1]).toBeInstanceOf(DbError)
  })

  test('excluded classes (and their subclasses) are not logged', async () => {
    class NotFoundInDb extends DbError {}
    const logger = { warn: vi.fn(), error: vi.fn() }
    const api = service({
      db: () => { throw new NotFoundInDb('x') },
      other: () => { throw new RangeError('y') },
    })
    const { client } = pair({ service: api, logErrors: { exclude: [DbError] }, logger })
    await catchOf(client.call('db', []))
    await catchOf(client.call('other', []))
    expect(logger.error).toHaveBeenCalledTimes(1)
    expect(logger.error.mock.calls[0]![1]).toBeInstanceOf(RangeError)
  })
})
