/**
 * A hostile or broken peer: raw frames injected straight into the server's
 * transport. Every malformed frame is counted, answered with a ProtocolError
 * when a request id can be read, never throws out of the session, and the
 * session keeps serving normal calls.
 */
import { describe, expect, test, vi } from 'vitest'
import { ErrorCode, service } from '../src/index.js'
import { MessageType } from '../src/internal.js'
import { encodeRaw, pair, sentMessages, settle, silent } from './harness.js'

const api = service({
  add: (a: number, b: number) => a + b,
  echo: (x: unknown) => x,
})

/** A server under attack: inject raw frames, then read the responses it sent. */
function target() {
  const p = pair<typeof api>({ service: api })
  p.serverTransport.log = true
  const attack = async (...frames: (Uint8Array | number[])[]) => {
    for (const f of frames) expect(() => p.serverTransport.inject(f instanceof Uint8Array ? f : Uint8Array.from(f))).not.toThrow()
    await settle()
  }
  const responses = () => sentMessages(p.serverTransport).filter((m) => m[0] === MessageType.RESPONSE)
  const stillServes = async () => expect(await p.client.remote.add(20, 22)).toBe(42)
  return { ...p, attack, responses, stillServes }
}

const protocolErrorFor = (id: number) => [MessageType.RESPONSE, id, expect.objectContaining({ name: 'ProtocolError', code: ErrorCode.PROTOCOL }), null]

/** Deterministic pseudo-random bytes (mulberry32), so a failure can be replayed. */
function randomBytes(seed: number, count: number, maxLength: number): Uint8Array[] {
  let a = seed
  const next = () => {
    a = (a + 0x6d2b79f5) | 0
    let t = Math.imul(a ^ (a >>> 15), 1 | a)
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
  return Array.from({ length: count }, () => Uint8Array.from({ length: Math.floor(next() * maxLength) }, () => Math.floor(next() * 256)))
}

test('random bytes: counted, never thrown, and the session still serves', async () => {
  const t = target()
  const frames = randomBytes(0xc0ffee, 500, 64)
  frames.push(new Uint8Array(0))
  await t.attack(...frames)
  // A random frame can occasionally be valid msgpack of some other shape; almost all are malformed.
  expect(t.server.stats().malformedFrames).toBeGreaterThan(450)
  expect(t.server.closed).toBe(false)
  await t.stillServes()
})

describe('wrong shapes', () => {
  test.each<[string, unknown]>([
    ['a map', { type: 0 }],
    ['a string', 'hello'],
    ['a number', 42],
    ['nil', null],
    ['an empty array', []],
    ['a request without an id', [0]],
    ['a request with a negative id', [0, -1, 'add', [1, 2]]],
    ['a request with a float id', [0, 1.5, 'add', [1, 2]]],
    ['a request with a string id', [0, '10', 'add', [1, 2]]],
    ['a response with a string id', [1, 'x', null, null]],
    ['a short response', [1, 3]],
    ['a notification without params', [2, 'add']],
    ['a notification with a number method', [2, 42, []]],
    ['a notification with an empty method', [2, '', []]],
    ['a cancel without an id', [3]],
    ['a cancel with a string id', [3, 'x']],
    ['a release with an odd list', [4, [1]]],
    ['a release that is not a list', [4, 'x']],
    ['a release with a negative count', [4, [1, -1]]],
  ])('%s is counted and not answered', async (_label, value) => {
    const t = target()
    await t.attack(encodeRaw(value))
    expect(t.server.stats().malformedFrames).toBe(1)
    expect(t.responses()).toEqual([])
    await t.stillServes()
  })

  test.each<[string, unknown[], number]>([
    ['a request without method and params', [0, 5], 5],
    ['a request without params', [0, 5, 'add'], 5],
    ['a request with a number method', [0, 6, 42, []], 6],
    ['a request with an empty method', [0, 7, '', []], 7],
    ['a request with map params', [0, 8, 'add', { a: 1 }], 8],
    ['a request with string params', [0, 9, 'add', 'x'], 9],
  ])('%s is answered with ProtocolError for its id', async (_label, value, id) => {
    const t = target()
    await t.attack(encodeRaw(value))
    expect(t.server.stats().malformedFrames).toBe(1)
    expect(t.responses()).toEqual([protocolErrorFor(id)])
    await t.stillServes()
  })
})

test('unknown message types get a ProtocolError when an id can be read, else are ignored', async () => {
  const t = target()
  await t.attack(encodeRaw([9, 11, 'add', []]), encodeRaw([-1, 12]), encodeRaw(['0', 13, 'add', [1, 2]]), encodeRaw([200]), encodeRaw([5, 'x']))
  expect(t.server.stats().malformedFrames).toBe(5)
  expect(t.responses()).toEqual([protocolErrorFor(11), protocolErrorFor(12), protocolErrorFor(13)])
  await t.stillServes()
})

describe('ids', () => {
  test('ids beyond uint32 are refused without a reply', async () => {
    const t = target()
    const u64max = [0x94, 0x00, 0xcf, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xa3, 0x61, 0x64, 0x64, 0x92, 0x01, 0x02]
    await t.attack(encodeRaw([0, 2 ** 32, 'add', [1, 2]]), encodeRaw([0, 2 ** 53, 'add', [1, 2]]), u64max)
    expect(t.server.stats().malformedFrames).toBe(3)
    expect(t.responses()).toEqual([])
    await t.stillServes()
  })

  test('the largest uint32 id is a valid request', async () => {
    const t = target()
    await t.attack(encodeRaw([0, 0xffff_ffff, 'add', [1, 2]]))
    expect(t.server.stats().malformedFrames).toBe(0)
    expect(t.responses()).toEqual([[MessageType.RESPONSE, 0xffff_ffff, null, 3]])
  })

  test('responses for ids nobody is waiting for are dropped and counted as late', async () => {
    const t = target()
    t.clientTransport.inject(encodeRaw([1, 999, null, 'stray']))
    t.clientTransport.inject(encodeRaw([1, 998, { name: 'Error', message: 'stray', code: 'X' }, null]))
    await settle()
    expect(t.client.stats().lateReplies).toBe(2)
    expect(t.client.stats().malformedFrames).toBe(0)
    await t.stillServes()
  })
})

describe('huge length headers do not allocate', () => {
  test.each<[string, number[]]>([
    ['a 4-billion-element array', [0xdd, 0xff, 0xff, 0xff, 0xff]],
    ['a 4-billion-element array with some content', [0xdd, 0xff, 0xff, 0xff, 0xff, 0x05, 0x01, 0x02]],
    ['a 65535-element array, truncated', [0xdc, 0xff, 0xff, 0x00]],
    ['a 4-billion-entry map', [0xdf, 0xff, 0xff, 0xff, 0xff]],
    ['a 4 GiB string', [0xdb, 0xff, 0xff, 0xff, 0xff, 0x61]],
    ['a 4 GiB binary', [0xc6, 0xff, 0xff, 0xff, 0xff, 0x00]],
    ['a 4 GiB extension', [0xc9, 0xff, 0xff, 0xff, 0xff, 0x40]],
  ])('%s', async (_label, bytes) => {
    const t = target()
    const started = Date.now()
    await t.attack(bytes)
    expect(Date.now() - started).toBeLessThan(500) // sanity: nothing was allocated for the claimed length
    expect(t.server.stats().malformedFrames).toBe(1)
    expect(t.responses()).toEqual([])
    await t.stillServes()
  })

  test('a 4-billion-element array that starts like a request is answered for its id', async () => {
    const t = target()
    await t.attack([0xdd, 0xff, 0xff, 0xff, 0xff, 0x00, 0x01, 0x02])
    expect(t.responses()).toEqual([protocolErrorFor(1)])
    await t.stillServes()
  })

  test('a huge array inside a request with a readable id is answered', async () => {
    const t = target()
    // [0, 1, "add", <array of 2^32-1 elements>]
    await t.attack([0x94, 0x00, 0x01, 0xa3, 0x61, 0x64, 0x64, 0xdd, 0xff, 0xff, 0xff, 0xff])
    expect(t.responses()).toEqual([protocolErrorFor(1)])
    await t.stillServes()
  })
})

test('truncated frames: every prefix of a request is malformed; those with a readable id are answered', async () => {
  const t = target()
  const whole = encodeRaw([0, 7, 'add', [1, 2]])
  const prefixes = Array.from({ length: whole.length }, (_, n) => whole.subarray(0, n))
  await t.attack(...prefixes)
  expect(t.server.stats().malformedFrames).toBe(whole.length)
  const withId = prefixes.filter((p) => p.length >= 3).length
  expect(t.responses()).toEqual(Array.from({ length: withId }, () => protocolErrorFor(7)))
  await t.stillServes()
})

test('trailing bytes after a valid request make it malformed', async () => {
  const t = target()
  const whole = encodeRaw([0, 8, 'add', [1, 2]])
  await t.attack(Uint8Array.from([...whole, 0xc0]))
  expect(t.responses()).toEqual([protocolErrorFor(8)])
})

describe('bad extension payloads', () => {
  const ext = (type: number, payload: number[]) => {
    // ext 8: 0xc7 len type payload
    return [0xc7, payload.length, type & 0xff, ...payload]
  }
  const request = (id: number, arg: number[]) => [0x94, 0x00, id, 0xa4, ...Buffer.from('echo'), 0x91, ...arg]
  test.each<[string, number[]]>([
    ['a bigint that is not a number', ext(67, [0xa3, 0x61, 0x62, 0x63])],
    ['a map with an odd list', ext(68, [0x91, 0x01])],
    ['a set that is not a list', ext(69, [0x01])],
    ['a reference id of 3 bytes', ext(64, [0, 0, 1])],
    ['a timestamp of 3 bytes', ext(-1, [0, 0, 1])],
    ['an object with a __proto__ key', [0x81, 0xa9, ...Buffer.from('__proto__'), 0x01]],
  ])('%s', async (_label, arg) => {
    const t = target()
    await t.attack(request(30, arg))
    expect(t.server.stats().malformedFrames).toBe(1)
    expect(t.responses()).toEqual([protocolErrorFor(30)])
    expect(Object.prototype).not.toHaveProperty('polluted')
    await t.stillServes()
  })

  test('a handed-back reference that was never exported is refused as itself (ReferenceReleasedError)', async () => {
    const t = target()
    await t.attack(request(30, ext(66, [0, 0, 0, 99])))
    expect(t.server.stats().malformedFrames).toBe(1)
    expect(t.responses()).toEqual([
      [MessageType.RESPONSE, 30, expect.objectContaining({ name: 'ReferenceReleasedError', code: ErrorCode.REFERENCE_RELEASED }), null],
    ])
    await t.stillServes()
  })

  test('an unknown extension type arrives as inspectable data, not a failure', async () => {
    const t = target()
    await t.attack(request(31, ext(5, [1, 2, 3])))
    expect(t.server.stats().malformedFrames).toBe(0)
    const [response] = t.responses()
    expect(response![1]).toBe(31)
    expect(response![2]).toBeNull()
  })
})

test('logging is rate-limited per connection: LOG_RATE lines per window, then a summary of what was suppressed', async () => {
  const t = target()
  const warn = vi.spyOn(silent, 'warn')
  const start = Date.now()
  const now = vi.spyOn(Date, 'now').mockReturnValue(start)
  try {
    await t.attack(...Array.from({ length: 25 }, () => [0xc1]))
    expect(t.server.stats().malformedFrames).toBe(25)
    expect(warn).toHaveBeenCalledTimes(20)
    // The next window: the count of suppressed lines comes first, then the line itself.
    now.mockReturnValue(start + 10_000)
    await t.attack([0xc1])
    expect(warn).toHaveBeenCalledTimes(22)
    expect(String(warn.mock.calls[20]![0])).toContain('5 more log lines')
    expect(String(warn.mock.calls[21]![0])).toContain('malformed frame')
    // Suppressed lines not yet reported are reported when the connection closes.
    await t.attack(...Array.from({ length: 20 }, () => [0xc1]))
    expect(warn).toHaveBeenCalledTimes(41)
    await t.server.close()
    expect(String(warn.mock.calls.at(-1)![0])).toContain('1 more log lines')
  } finally {
    now.mockRestore()
  }
})

test('a malformed frame on one connection leaves another connection (same shared codec) untouched', async () => {
  const victim = target()
  const bystander = pair<typeof api>({ service: api })
  const call = bystander.client.remote.echo({ big: 'x'.repeat(1000), list: [1, 2, 3] })
  await victim.attack(...randomBytes(7, 100, 32), [0xdd, 0xff, 0xff, 0xff, 0xff])
  expect(await call).toEqual({ big: 'x'.repeat(1000), list: [1, 2, 3] })
  expect(bystander.server.stats().malformedFrames).toBe(0)
  await victim.stillServes()
})
