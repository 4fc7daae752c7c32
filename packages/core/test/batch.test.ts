/**
 * Batch framing (docs/protocol.md, "Batches"): what BatchWriter puts on the
 * wire, and what readBatchItem / deliverBatch accept and refuse.
 */
import { describe, expect, test } from 'vitest'
import { BATCH_MARKER, BatchWriter, MAX_BATCH_BYTES, deliverBatch, isBatch, readBatchItem } from '../src/batch.js'

function frame(n: number, fill = 7): Uint8Array {
  return new Uint8Array(n).fill(fill)
}

/** A writer whose sink records copies of what it is given (the sink may reuse its buffer). */
function recording(ownFrames: boolean, reuse: boolean): { writer: BatchWriter; sent: Uint8Array[]; given: Uint8Array[] } {
  const sent: Uint8Array[] = []
  const given: Uint8Array[] = []
  const writer = new BatchWriter((m) => (given.push(m), sent.push(m.slice())), ownFrames, reuse)
  return { writer, sent, given }
}

/** Every frame of a batch, or the reason it is malformed. */
function split(batch: Uint8Array): { frames: Uint8Array[]; bad: string[] } {
  const frames: Uint8Array[] = []
  const bad: string[] = []
  deliverBatch(batch, 1, (f) => (frames.push(f.slice()), true), (r) => bad.push(r))
  return { frames, bad }
}

describe('BatchWriter', () => {
  test('a lone frame is sent as itself: the same object when frames are owned, equal bytes when copied', () => {
    const owned = recording(true, false)
    const f = frame(12)
    owned.writer.add(f)
    expect(owned.sent).toEqual([])
    owned.writer.flush()
    expect(owned.given[0]).toBe(f)
    const copied = recording(false, true)
    copied.writer.add(frame(300, 3))
    copied.writer.flush()
    expect(copied.sent).toEqual([frame(300, 3)])
    expect(isBatch(copied.sent[0]!)).toBe(false)
  })

  test('two or more frames: the marker, then each frame as a msgpack bin (8, 16 and 32-bit lengths), in order', () => {
    for (const [ownFrames, reuse] of [[true, false], [false, true], [false, false]] as const) {
      const { writer, sent } = recording(ownFrames, reuse)
      const frames = [frame(5, 1), frame(300, 2), frame(40_000, 3)]
      for (const f of frames) writer.add(f)
      writer.flush()
      expect(sent.length).toBe(1)
      const batch = sent[0]!
      expect(batch[0]).toBe(BATCH_MARKER)
      expect([...batch.subarray(1, 3)]).toEqual([0xc4, 5])
      expect([...batch.subarray(8, 11)]).toEqual([0xc5, 0x01, 0x2c])
      expect(split(batch)).toEqual({ frames, bad: [] })
      expect(batch.length).toBe(1 + 2 + 5 + 3 + 300 + 3 + 40_000)
    }
  })

  test('flush with nothing gathered sends nothing; pending counts what waits', () => {
    const { writer, sent } = recording(false, true)
    writer.flush()
    expect(sent).toEqual([])
    writer.add(frame(10))
    writer.add(frame(10))
    expect(writer.pending).toBe(1 + 2 * 12)
    writer.flush()
    expect(writer.pending).toBe(0)
    expect(sent.length).toBe(1)
  })

  test('a batch never exceeds MAX_BATCH_BYTES: the frame that does not fit starts the next one', () => {
    const { writer, sent } = recording(true, false)
    const frames = Array.from({ length: 10 }, (_, i) => frame(10_000, i))
    for (const f of frames) writer.add(f)
    writer.flush()
    expect(sent.length).toBe(2)
    for (const m of sent) expect(m.length).toBeLessThanOrEqual(MAX_BATCH_BYTES)
    expect(sent.flatMap((m) => split(m).frames)).toEqual(frames)
  })

  test('a frame too large for any batch goes alone, after what was gathered before it', () => {
    const { writer, sent, given } = recording(true, false)
    const big = frame(MAX_BATCH_BYTES, 9)
    writer.add(frame(3, 1))
    writer.add(frame(3, 2))
    writer.add(big)
    writer.add(frame(3, 3))
    writer.flush()
    expect(sent.length).toBe(3)
    expect(split(sent[0]!).frames).toEqual([frame(3, 1), frame(3, 2)])
    expect(given[1]).toBe(big)
    expect(sent[2]).toEqual(frame(3, 3))
  })

  test('a frame too large for a batch, given as a view to a sink that keeps messages, is handed over as a copy', () => {
    const kept: Uint8Array[] = []
    const writer = new BatchWriter((m) => kept.push(m), false, false)
    const encodeBuffer = frame(MAX_BATCH_BYTES + 10, 4)
    writer.add(encodeBuffer.subarray(0, MAX_BATCH_BYTES))
    encodeBuffer.fill(5) // the next encode reuses the buffer
    writer.flush()
    expect(kept).toHaveLength(1)
    expect(kept[0]!.every((b) => b === 4), 'what the sink keeps is what was added').toBe(true)
  })

  test('reuse: the sink is handed views of one buffer; without reuse every batch is a fresh buffer', () => {
    const reused = recording(false, true)
    const fresh = recording(true, false)
    for (const r of [reused, fresh]) {
      for (let round = 0; round < 2; round++) {
        r.writer.add(frame(4, round))
        r.writer.add(frame(4, round))
        r.writer.flush()
      }
    }
    expect(reused.given[0]!.buffer).toBe(reused.given[1]!.buffer)
    expect(fresh.given[0]!.buffer).not.toBe(fresh.given[1]!.buffer)
    // A fresh batch is never overwritten by the next one (`ws` keeps it queued by reference).
    expect(split(fresh.given[0]!).frames).toEqual([frame(4, 0), frame(4, 0)])
  })
})

describe('reading batches', () => {
  const ok = Uint8Array.of(BATCH_MARKER, 0xc4, 2, 0x92, 0x01)

  test('malformed items are refused with a reason; frames before them were delivered', () => {
    const cases: [number[], RegExp][] = [
      [[BATCH_MARKER], /no frame/],
      [[BATCH_MARKER, 0x94, 1, 2, 3, 4], /not a msgpack bin/],
      [[BATCH_MARKER, 0xc4], /not a msgpack bin/], // header cut short
      [[BATCH_MARKER, 0xc5, 0x01], /not a msgpack bin/],
      [[BATCH_MARKER, 0xc4, 0], /empty/],
      [[BATCH_MARKER, 0xc4, 200, 1, 2], /claims 200 bytes, 2 left/],
      [[BATCH_MARKER, 0xc6, 0xff, 0xff, 0xff, 0xff, 1], /claims 4294967295 bytes, 1 left/],
      [[BATCH_MARKER, 0xc5, 0xff, 0xff], /claims 65535 bytes, 0 left/],
    ]
    for (const [bytes, reason] of cases) {
      const { frames, bad } = split(Uint8Array.from(bytes))
      expect(frames).toEqual([])
      expect(bad.length).toBe(1)
      expect(bad[0]).toMatch(reason)
    }
    const partly = split(Uint8Array.from([...ok, 0xc4, 9, 1]))
    expect(partly.frames).toEqual([Uint8Array.of(0x92, 0x01)])
    expect(partly.bad[0]).toMatch(/claims 9 bytes/)
  })

  test('a batch inside a batch is handed on as a frame (the session refuses it as undecodable), not unpacked', () => {
    const { frames, bad } = split(Uint8Array.from([BATCH_MARKER, 0xc4, ok.length, ...ok]))
    expect(bad).toEqual([])
    expect(frames).toEqual([ok])
  })

  test('deliverBatch stops where the receiver stops reading and goes on from the offset it returns', () => {
    const { writer, sent } = recording(true, false)
    for (let i = 0; i < 5; i++) writer.add(frame(3, i))
    writer.flush()
    const got: number[] = []
    let offset = 1
    let calls = 0
    while (offset !== -1 && calls++ < 10) offset = deliverBatch(sent[0]!, offset, (f) => (got.push(f[0]!), false), () => {})
    expect(got).toEqual([0, 1, 2, 3, 4])
    expect(calls).toBe(5)
  })

  test('readBatchItem never allocates for a length it cannot see: views into the message', () => {
    const item = readBatchItem(ok, 1)
    expect(typeof item).toBe('object')
    if (typeof item === 'string') return
    expect(item.frame.buffer).toBe(ok.buffer)
    expect(item.next).toBe(ok.length)
  })
})
