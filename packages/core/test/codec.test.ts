/**
 * Values beyond JSON cross the wire as themselves (Date, BigInt, Map, Set,
 * Uint8Array, Error values), plus user value types on extension numbers 0-63.
 */
import { ExtData } from '../src/index.js'
import { describe, expect, test } from 'vitest'
import { RemoteError, Session, service, type ValueType } from '../src/index.js'
import { ExtType, MessageType, MsgpackCodec, createMemoryPair } from '../src/internal.js'
import { decodeRaw, encodeRaw, pair, rejection, sentMessages } from './harness.js'

const echo = service({ echo: (x: unknown) => x, describe: (x: unknown) => Object.prototype.toString.call(x) })

async function roundTrip<T>(value: T): Promise<T> {
  const { client } = pair<typeof echo>({ service: echo })
  return (await client.remote.echo(value)) as T
}

describe('built-in extensions', () => {
  test.each([
    new Date(0), new Date('2024-02-29T12:34:56.789Z'), new Date(-1), new Date(-86_400_000 * 365 * 100), new Date(8.64e15),
  ])('Date %s keeps its millisecond value', async (date) => {
    const back = await roundTrip(date)
    expect(back).toBeInstanceOf(Date)
    expect(back.getTime()).toBe(date.getTime())
  })

  test('an Invalid Date arrives invalid, not as 1970-01-01', async () => {
    const { client } = pair<typeof echo>({ service: echo })
    const outcome = await client.remote.echo(new Date(NaN))
    expect(outcome).toBeInstanceOf(Date)
    expect(Number.isNaN((outcome as Date).getTime())).toBe(true)
  })

  test.each([0n, 1n, -1n, 2n ** 64n, -(2n ** 200n), 12345678901234567890123456789n])('BigInt %s', async (n) => {
    expect(await roundTrip(n)).toBe(n)
  })

  test('bigints beyond a double travel as msgpack int 64 / uint 64; smaller ones as the extension; numbers stay numbers', async () => {
    const value = [2n ** 53n, 2n ** 64n - 1n, -(2n ** 63n), 5n, 2n ** 53n - 1n, 2n ** 64n, 2 ** 60, 5]
    expect(await roundTrip(value)).toEqual(value)
    const codec = new MsgpackCodec()
    const wire = decodeRaw(codec.encode(value, undefined), { useBigInt64: true }) as unknown[]
    expect(wire.slice(0, 3)).toEqual([2n ** 53n, 2n ** 64n - 1n, -(2n ** 63n)]) // plain msgpack integers
    expect(wire.slice(3, 6).map((x) => (x as ExtData).type)).toEqual([ExtType.BIGINT, ExtType.BIGINT, ExtType.BIGINT])
    expect(wire.slice(6)).toEqual([2 ** 60, 5])
  })

  test('a foreign peer\'s 64-bit integers arrive exact: bigints beyond a double, numbers within', () => {
    const frame = encodeRaw([2n ** 63n + 1n, -(2n ** 53n) - 1n, 7n, -7n], { useBigInt64: true })
    expect(new MsgpackCodec().decode(frame, undefined, 1 << 20)).toEqual([2n ** 63n + 1n, -(2n ** 53n) - 1n, 7, -7])
  })

  test('Map with non-string keys, nested maps and object values', async () => {
    const map = new Map<unknown, unknown>([
      [1, 'one'], ['1', 'string one'], [true, { deep: [1, 2] }], [null, new Map([['inner', 2n]])],
    ])
    const back = await roundTrip(map)
    expect(back).toBeInstanceOf(Map)
    expect(back).toEqual(map)
    expect((back.get(null) as Map<string, bigint>).get('inner')).toBe(2n)
  })

  test('Set with mixed members, insertion order kept', async () => {
    const set = new Set<unknown>(['b', 'a', 3, new Date(5), 7n])
    const back = await roundTrip(set)
    expect(back).toBeInstanceOf(Set)
    expect([...back]).toEqual([...set])
  })

  test.each([0, 1, 255, 100_000])('Uint8Array of %i bytes', async (size) => {
    const bytes = Uint8Array.from({ length: size }, (_, i) => (i * 31) & 0xff)
    const back = await roundTrip(bytes)
    expect(back).toBeInstanceOf(Uint8Array)
    expect(back.length).toBe(size)
    expect(Buffer.compare(back, bytes)).toBe(0) // toEqual walks 100k elements slowly
  })

  test('other typed-array views arrive as the bytes of their window', async () => {
    const floats = new Float32Array([1.5, -2])
    const back = (await roundTrip(floats)) as unknown as Uint8Array
    expect(back).toBeInstanceOf(Uint8Array)
    expect(new Float32Array(back.slice().buffer)).toEqual(floats)
    const window = new Uint8Array([9, 8, 7, 6, 5]).subarray(1, 3)
    expect(await roundTrip(window)).toEqual(new Uint8Array([8, 7]))
  })

  test('an ArrayBuffer arrives as an ArrayBuffer with its bytes (not as {})', async () => {
    const { client } = pair<typeof echo>({ service: echo })
    const outcome = await client.remote.echo(new Uint8Array([1, 2, 3]).buffer)
    expect(outcome).toBeInstanceOf(ArrayBuffer)
    expect([...new Uint8Array(outcome as ArrayBuffer)]).toEqual([1, 2, 3])
  })

  test('Error values (returned, not thrown) arrive as errors with their fields', async () => {
    class Custom extends Error {
      detail = 42
      constructor() {
        super('custom')
        this.name = 'Custom'
      }
    }
    const back = await roundTrip({ a: new TypeError('bad type'), b: [new Custom()] })
    expect(back.a).toBeInstanceOf(TypeError)
    expect(back.a.message).toBe('bad type')
    const custom = back.b[0] as unknown as RemoteError
    expect(custom).toBeInstanceOf(RemoteError)
    expect(custom.name).toBe('Custom')
    expect(custom.data).toEqual({ detail: 42 })
  })

  test('everything nested together, plus plain JSON values', async () => {
    const value = {
      when: new Date(1_700_000_000_000), big: [1n, -2n], tags: new Set(['x']), index: new Map([[1, new Uint8Array([1, 2])]]),
      text: 'héllo ✓ 𝄞', float: 0.1 + 0.2, negative: -7, nothing: null, nan: NaN, inf: -Infinity, flag: false,
    }
    expect(await roundTrip(value)).toEqual(value)
  })

  test('undefined becomes null (msgpack has no undefined)', async () => {
    expect(await roundTrip([undefined, { a: undefined }])).toEqual([null, { a: null }])
  })

  test('the wire uses the documented extension numbers', () => {
    const [a] = createMemoryPair()
    a.log = true
    const session = new Session(a)
    session.sendNotification('x', [new Date(1000), 5n, new Map([[1, 2]]), new Set([3]), new Uint8Array([4]), new Error('e')])
    const [message] = sentMessages(a)
    const params = message![2] as unknown[]
    expect(params[0]).toEqual(new Date(1000)) // msgpack timestamp (-1), decoded by any msgpack library
    expect((params[1] as ExtData).type).toBe(ExtType.BIGINT)
    expect(decodeRaw((params[1] as ExtData).data as Uint8Array)).toBe('5')
    expect((params[2] as ExtData).type).toBe(ExtType.MAP)
    expect(decodeRaw((params[2] as ExtData).data as Uint8Array)).toEqual([1, 2])
    expect((params[3] as ExtData).type).toBe(ExtType.SET)
    expect(params[4]).toEqual(new Uint8Array([4])) // plain msgpack bin
    expect((params[5] as ExtData).type).toBe(ExtType.ERROR)
    expect(message![0]).toBe(MessageType.NOTIFICATION)
    void session.close()
  })

  test('functions cannot be encoded without a connection', () => {
    expect(() => new MsgpackCodec().encode([() => 1], undefined)).toThrow(/references need a connection/)
  })

  test('symbols cannot be sent', async () => {
    const { client } = pair<typeof echo>({ service: echo })
    expect((await rejection(client.remote.echo(Symbol('s')))).name).toBe('ParameterError')
  })
})

describe('user value types', () => {
  class Point {
    constructor(readonly x: number, readonly y: number) {}
    norm(): number {
      return Math.hypot(this.x, this.y)
    }
  }
  class Point3 extends Point {}
  class Money {
    constructor(readonly cents: bigint, readonly at: Date) {}
  }
  const pointType: ValueType<Point, [number, number]> = {
    type: 0, class: Point, encode: (p) => [p.x, p.y], decode: ([x, y]) => new Point(x, y),
  }
  const moneyType: ValueType<Money, { c: bigint; at: Date }> = {
    type: 63, class: Money, encode: (m) => ({ c: m.cents, at: m.at }), decode: (w) => new Money(w.c, w.at),
  }
  const types = [pointType, moneyType] as ValueType[]

  test('registered classes cross as themselves, on the lowest and highest user numbers', async () => {
    const api = service({
      move: (p: Point, dx: number) => new Point(p.x + dx, p.y),
      total: (list: Money[]) => new Money(list.reduce((a, m) => a + m.cents, 0n), new Date(0)),
      isPoint: (p: unknown) => p instanceof Point,
    })
    const { client } = pair<typeof api>({ service: api, types }, { types })
    const moved = await client.remote.move(new Point(3, 4), 1)
    expect(moved).toBeInstanceOf(Point)
    expect(moved.norm()).toBe(Math.hypot(4, 4))
    const total = await client.remote.total([new Money(150n, new Date(1)), new Money(250n, new Date(2))])
    expect(total).toBeInstanceOf(Money)
    expect(total.cents).toBe(400n)
    expect(total.at).toEqual(new Date(0))
    // A subclass goes through its parent's translator (and arrives as the parent).
    expect(await client.remote.isPoint(new Point3(1, 1))).toBe(true)
  })

  test('a peer without the type sees the raw extension, not a crash', async () => {
    const api = service({ inspect: (x: unknown) => (x instanceof ExtData ? [x.type, x.data] : 'not raw') })
    const { client, server } = pair<typeof api>({ service: api }, { types })
    expect(await client.remote.inspect(new Point(1, 2))).toEqual([0, new Uint8Array([0x92, 0x01, 0x02])])
    expect(server.stats().malformedFrames).toBe(0)
  })

  test.each([64, 65, 100, 127, 128, -1, -128, 1.5, Number.NaN])('type number %s is refused', (type) => {
    const bad = { ...pointType, type } as ValueType
    expect(() => new MsgpackCodec([bad])).toThrow(RangeError)
    const [a] = createMemoryPair()
    expect(() => new Session(a, { types: [bad] })).toThrow(RangeError)
  })

  test('the same number registered twice is refused', () => {
    expect(() => new MsgpackCodec([pointType, { ...moneyType, type: 0 } as ValueType])).toThrow(RangeError)
  })

  test('an encoder that throws fails the call locally with ParameterError', async () => {
    const broken = { ...pointType, encode: () => { throw new Error('cannot encode point') } } as ValueType
    const { client } = pair<typeof echo>({ service: echo }, { types: [broken] })
    const err = await rejection(client.remote.echo(new Point(1, 1)))
    expect(err.name).toBe('ParameterError')
    expect(err.message).toContain('cannot encode point')
  })

  test('a decoder that throws makes the frame malformed, answered with ProtocolError', async () => {
    const broken = { ...pointType, decode: () => { throw new Error('cannot decode point') } } as ValueType
    const { client, server } = pair<typeof echo>({ service: echo, types: [broken] }, { types })
    const err = await rejection(client.remote.echo(new Point(1, 1)))
    expect(err.name).toBe('ProtocolError')
    expect(server.stats().malformedFrames).toBe(1)
  })
})

test('raw ExtData of an unknown type survives a round trip', async () => {
  // A relay (gateway, middle tier) that does not know a user type must pass it on untouched.
  const raw = new ExtData(42, new Uint8Array([1, 2, 3]))
  const back = (await roundTrip(raw)) as unknown as ExtData
  expect(back).toBeInstanceOf(ExtData)
  expect(back.type).toBe(42)
  expect(back.data).toEqual(new Uint8Array([1, 2, 3]))
})
