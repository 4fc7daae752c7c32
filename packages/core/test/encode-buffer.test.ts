/**
 * The encoder's reused buffer (msgpack-encode.ts `Writer`): it is kept across
 * large frames, `encode` hands out copies that later frames never touch,
 * and `encodeView` hands out views that are only safe for a transport that
 * copies on send (`Transport.copiesFrames`). The session-level tests show
 * both sides of that rule: a transport that copies gets every frame intact,
 * and one that claimed to copy but kept views would see them overwritten
 * (so the intact case is a real check, not a test that cannot fail).
 */
import { describe, expect, test } from 'vitest'
import { Session, service, type Transport, type TransportReceiver } from '../src/index.js'
import { MsgpackCodec, createMemoryPair } from '../src/internal.js'
import { Writer } from '../src/msgpack-encode.js'
import { silent } from './harness.js'

const MiB = 1 << 20

describe('Writer buffer', () => {
  test('a stream of 1 MiB frames reuses one buffer (views share it); encode returns copies', () => {
    const writer = new Writer(() => null)
    const big = new Uint8Array(MiB).fill(5)
    const a = writer.encodeView([1, big])
    const aBuffer = a.buffer
    const b = writer.encodeView([2, big])
    expect(b.buffer).toBe(aBuffer)
    const copy = writer.encode([3, big])
    expect(copy.buffer).not.toBe(aBuffer)
    writer.encode([4, new Uint8Array(MiB).fill(9)])
    expect(copy[1]).toBe(3)
    expect(copy[copy.length - 1]).toBe(5)
  })

  test('a large buffer is given back after 256 small frames in a row, and the last view stays intact', () => {
    const writer = new Writer(() => null)
    const first = writer.encodeView([new Uint8Array(MiB)])
    const large = first.buffer
    let last = first
    for (let i = 0; i < 255; i++) last = writer.encodeView([i])
    expect(last.buffer).toBe(large)
    const kept = writer.encodeView(['kept'])
    expect(kept.buffer).toBe(large) // the 256th small frame: the buffer is replaced after it
    expect(writer.encodeView([1]).buffer).not.toBe(large)
    expect([...kept]).toEqual([0x91, 0xa4, ...new TextEncoder().encode('kept')])
  })

  test('one large frame among small ones resets the count: the buffer stays', () => {
    const writer = new Writer(() => null)
    const large = writer.encodeView([new Uint8Array(MiB)]).buffer
    for (let round = 0; round < 3; round++) {
      for (let i = 0; i < 200; i++) writer.encodeView([i])
      writer.encodeView([new Uint8Array(MiB / 2)])
    }
    expect(writer.encodeView([1]).buffer).toBe(large)
  })

  test('MsgpackCodec.encodeView from inside an extension hook (writer busy) falls back to a copy', () => {
    class Point { constructor(readonly x: number) {} }
    let inner: Uint8Array | undefined
    const codec = new MsgpackCodec([{ type: 1, class: Point, encode: (p: Point) => {
      inner = codec.encodeView([p.x], undefined)
      return p.x
    }, decode: (x: unknown) => new Point(x as number) }])
    codec.encode([new Point(7)], undefined)
    expect(inner).toBeDefined()
    codec.encode(['overwrites the shared buffer'], undefined)
    expect([...inner!]).toEqual([0x91, 7])
  })
})

/**
 * One end of a memory pair that declares `copiesFrames`; `copy` says whether it really copies
 * in `send` (true) or keeps the view until delivery on a later microtask (a transport that lied).
 */
function declaringCopies(inner: Transport, copy: boolean): Transport {
  return {
    copiesFrames: true,
    start: (receiver: TransportReceiver) => inner.start(receiver),
    send: (frame) => inner.send(copy && typeof frame !== 'string' ? frame.slice() : frame),
    close: (code, reason) => inner.close(code, reason),
  }
}

/** Same bytes? (vitest's deep equality walks typed arrays element by element: far too slow at this size.) */
function sameBytes(a: Uint8Array, b: unknown): boolean {
  if (!(b instanceof Uint8Array) || a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}

async function pipelinedEchoes(copy: boolean): Promise<boolean[]> {
  const [a, b] = createMemoryPair()
  const api = service({ echo: (x: Uint8Array) => x })
  const server = new Session(b, { service: api, logger: silent })
  const client = new Session<typeof api>(declaringCopies(a, copy), { logger: silent })
  const sent = Array.from({ length: 20 }, (_, i) => new Uint8Array(100 + i * 5000).fill(i + 1))
  const calls = Promise.all(sent.map((bytes) => client.remote.echo(bytes).catch((err: unknown) => err)))
  // Sent last, so its bytes are the ones in the buffer at delivery either way: once it is answered,
  // every frame before it has been handled; the close then settles calls whose ids were overwritten.
  await client.remote.echo(Uint8Array.of(1)).catch(() => {})
  await client.close()
  const got = await calls
  await server.close()
  return sent.map((bytes, i) => sameBytes(bytes, got[i]))
}

describe('sessions over a transport that copies on send', () => {
  test('every frame arrives intact: views of the encode buffer, consumed before the next encode', async () => {
    expect(await pipelinedEchoes(true)).toEqual(Array(20).fill(true))
  })

  test('control: a transport that kept the views would have seen them overwritten', async () => {
    expect(await pipelinedEchoes(false)).toContain(false)
  })
})
